"""Deterministic mode: two runs of one cell on the same machine give identical predictions and metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ltgrid import params
from ltgrid.data import prepare_dataset
from ltgrid.data.splits import make_split, write_split
from ltgrid.io import read_json
from ltgrid.tracking.store import ensure_experiment
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
    config_ds = config["datasets"]["digits"]
    ds = prepare_dataset(config_ds["source"], work / "dataset.npz")
    split = make_split(ds.train_y, 10, 0, n_max=config_ds["split"]["n_max"], val_per_class=config_ds["split"]["val_per_class"])
    write_split(work / "split.json", split, "digits")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    tracking = {"uri": uri, "experiment_id": ensure_experiment(uri, "determinism", root=work)}
    return {"cell": cell, "work": work, "tracking": tracking}


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
    assert a_run["run_id"] != b_run["run_id"]  # two runs, not one resumed


def test_a_different_seed_changes_the_run(digits_cell: dict) -> None:
    """The identity above is not vacuous: the seed does reach the result."""
    other = dict(digits_cell, cell={**digits_cell["cell"], "seed": 1})
    a_arrays, _ = _run(digits_cell, "a")
    b_arrays, _ = _run(other, "seed1")
    assert not np.array_equal(a_arrays["test_logits_final"], b_arrays["test_logits_final"])
