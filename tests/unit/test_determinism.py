"""Deterministic mode: two runs of one cell on the same machine give identical predictions and metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ltgrid import params
from ltgrid.io import read_json
from ltgrid.cell_inputs import cell_inputs
from ltgrid.train.trainer import train_cell

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits_cell(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The default grid's digits UniMix+Bayias cell, cut to 3 epochs, with its data and MLflow store."""
    work = tmp_path_factory.mktemp("determinism")
    config = params.load(ROOT / "params" / "default.yaml", ROOT / "workflow" / "schemas" / "params.schema.yaml", root=ROOT)
    cell = params.resolve_cell(config, params.Cell("digits", params.format_rho(10), 0, "unimix_bayias", 0))
    cell["recipe"].update(epochs=3, lr_schedule={"warmup_epochs": 1, "steps": [{"epoch": 2, "factor": 0.1}]})
    cell["recipe"]["deterministic"] = True
    inputs = cell_inputs(config, params.Cell("digits", params.format_rho(10), 0, "unimix_bayias", 0), work, "determinism")
    return {"cell": cell, "work": work, "tracking": inputs.tracking}


def _run(setup: dict, name: str) -> tuple[dict, dict]:
    out = setup["work"] / name
    if (out / "run.json").exists():  # finished earlier in this module: read it back
        return _read(out)
    train_cell(setup["cell"], setup["work"] / "dataset.npz", setup["work"] / "split.json", out, setup["tracking"], threads=1)
    return _read(out)


def _read(out: Path) -> tuple[dict, dict]:
    with np.load(out / "predictions.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, read_json(out / "run.json")


def test_two_runs_of_a_cell_are_identical(digits_cell: dict) -> None:
    a_arrays, a_run = _run(digits_cell, "a")
    b_arrays, b_run = _run(digits_cell, "b")
    assert torch.are_deterministic_algorithms_enabled()
    assert a_arrays.keys() == b_arrays.keys()
    for key in a_arrays:
        np.testing.assert_array_equal(a_arrays[key], b_arrays[key], err_msg=key)
    assert a_run["history"] == b_run["history"]  # losses, accuracies, lr: every float equal
    assert len(a_run["history"]) == 3
    assert a_run["run_id"] == b_run["run_id"]  # one MLflow run per cell: the rerun reuses it (issue 14)


def test_a_different_seed_changes_the_run(digits_cell: dict) -> None:
    """The identity above is not vacuous: the seed does reach the result."""
    other = dict(digits_cell, cell={**digits_cell["cell"], "seed": 1})
    a_arrays, _ = _run(digits_cell, "a")
    b_arrays, _ = _run(other, "seed1")
    assert not np.array_equal(a_arrays["test_logits_final"], b_arrays["test_logits_final"])


def test_tau_norm_chooses_tau_on_the_validation_split_and_evaluation_fits_a_temperature(digits_cell: dict) -> None:
    """Stage 2 on the trained cell: tau is the best of 0, 0.1, ..., 2 on the val split; the val logits
    saved beside the test ones give each protocol a temperature and calibration after scaling."""
    from ltgrid.evaluate.cell import evaluate_cell
    from ltgrid.evaluate.temperature import fit_temperature
    from ltgrid.methods.stage2 import tau_grid

    _run(digits_cell, "a")
    config = params.load(ROOT / "params" / "default.yaml", ROOT / "workflow" / "schemas" / "params.schema.yaml", root=ROOT)
    cell = params.resolve_cell(config, params.Cell("digits", params.format_rho(10), 0, "tau_norm", 0))
    out = digits_cell["work"] / "tau_norm"
    train_cell(cell, digits_cell["work"] / "dataset.npz", digits_cell["work"] / "split.json", out,
               digits_cell["tracking"], threads=1, stage1_model=digits_cell["work"] / "a" / "model.pt")
    arrays, run = _read(out)
    record = run["history"][0]
    taus = tau_grid([0.0, 2.0, 0.1])
    assert record["stage"] == "tau_norm" and record["tau"] in taus
    assert list(record["tau_scores"]) == [str(t) for t in taus]
    assert record["tau_val_acc"] == max(record["tau_scores"].values()) == record["tau_scores"][str(record["tau"])]
    assert record["val_acc"] == record["tau_val_acc"]  # the kept weights are the chosen tau's
    assert {"val_labels", "val_logits_final", "val_logits_best_val", "val_logits_best_test"} <= arrays.keys()
    result = evaluate_cell(out)
    for protocol in ("final", "best_val", "best_test"):
        m = result["protocols"][protocol]
        t = fit_temperature(arrays[f"val_logits_{protocol}"], arrays["val_labels"])
        assert m["ts_temperature"] == t and m["ts_nll"] >= 0 and 0 <= m["ts_ece"] <= 100


@pytest.mark.parametrize("method", ["lws", "mislas", "wb"])
def test_stage2_methods_train_what_they_should_on_a_finished_stage_1(digits_cell: dict, method: str) -> None:
    """LWS, MiSLAS and weight balancing's stage 2 through the trainer on the same stage-1 model:
    what changed in model.pt against stage 1 is what the method trains (or re-estimates)."""
    _run(digits_cell, "a")
    config = params.load(ROOT / "params" / "default.yaml", ROOT / "workflow" / "schemas" / "params.schema.yaml", root=ROOT)
    cell = params.resolve_cell(config, params.Cell("digits", params.format_rho(10), 0, method, 0))
    cell["method_spec"]["stage2"]["epochs"] = 2
    out = digits_cell["work"] / method
    stage1 = digits_cell["work"] / "a" / "model.pt"
    train_cell(cell, digits_cell["work"] / "dataset.npz", digits_cell["work"] / "split.json", out,
               digits_cell["tracking"], threads=1, stage1_model=stage1)
    before = torch.load(stage1, weights_only=True)
    after = torch.load(out / "model.pt", weights_only=True)
    _, run = _read(out)
    assert [r["stage"] for r in run["history"]] == [cell["method_spec"]["stage2"]["kind"]] * 2
    assert 0 <= run["train_acc_clean"] <= 100
    key = {k: k.replace("classifier.", "classifier.inner.") if "classifier." in k and method != "wb" else k for k in before}
    changed = {k for k in before if not torch.equal(before[k], after[key[k]])}
    body_weights = {k for k in before if k.startswith("body.") and k.endswith((".weight", ".bias"))}
    assert not changed & body_weights  # the backbone (and every BN affine parameter) is frozen
    statistics = {k for k in before if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    if method == "lws":  # Kang et al.'s loop: batch-norm statistics re-estimated, W and b frozen, scales trained
        assert "body.1.running_mean" in changed and changed <= statistics
        assert not torch.equal(after["classifier.scales"], torch.ones(10))
    elif method == "mislas":  # the CIFAR-10 configs: shifted BN off; classifier and scales trained
        assert changed == {"classifier.weight", "classifier.bias"}
        assert not torch.equal(after["classifier.scales"], torch.ones(10))
    else:
        assert changed == {"classifier.weight", "classifier.bias"}
        assert bool((after["classifier.weight"].norm(dim=1) <= after["max_norm_radius"] + 1e-6).all())
