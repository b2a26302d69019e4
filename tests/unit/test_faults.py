"""Training faults and security: a failing cell says where and why, writes no result, leaks no secret.

The trainer runs for real on a tiny digits cell (2 epochs); faults that a CPU cannot
produce on cue (GPU out of memory, a NaN at one exact batch) come from LTGRID_FAULT.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ltgrid import params
from ltgrid.train import faults
from ltgrid.tracking import cell_run
from ltgrid.tracking import store as tracking
from ltgrid.train.checkpoint import CHECKPOINT
from ltgrid.train.trainer import TrainingError, train_cell

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ("predictions.npz", "model.pt", "run.json", "metrics.json")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Digits arrays, one split, a created MLflow store and the default grid's config."""
    from ltgrid.cell_inputs import cell_inputs

    tmp = tmp_path_factory.mktemp("faults")
    cwd = Path.cwd()
    os.chdir(ROOT)  # params paths (schema, includes) are relative to the project root
    try:
        config = params.load("params/default.yaml")
    finally:
        os.chdir(cwd)
    inputs = cell_inputs(config, params.Cell("digits", "10", 0, "unimix_bayias", 0), tmp, "faults")
    return tmp, inputs.data, inputs.split, inputs.tracking, config


def cell(config, method: str = "unimix_bayias", **recipe) -> dict:
    config = copy.deepcopy(config)
    config["recipes"]["digits"].update({"epochs": 2, "lr_schedule": {}, **recipe})
    return params.resolve_cell(config, params.Cell("digits", "10", 0, method, 0))


def train(bench, resolved: dict, out: Path) -> None:
    _, data, split, info, _ = bench
    train_cell(resolved, data, split, out, info, threads=1)


def run_of(bench, out: Path):
    from mlflow.tracking import MlflowClient

    state = torch.load(out / CHECKPOINT, weights_only=False)["state"]
    client = MlflowClient(tracking_uri=bench[3]["uri"])
    return client, client.get_run(state["run_id"]), state


def test_fault_spec_is_parsed_or_refused():
    assert faults.parse("nan_loss@1:3") == faults.Fault("nan_loss", 1, 3)
    assert faults.parse(" oom@0:0 ") == faults.Fault("oom", 0, 0) and faults.parse("") is None
    for bad in ("nan_loss", "segfault@1:1", "oom@1"):
        with pytest.raises(ValueError, match=re.escape(f"LTGRID_FAULT={bad!r}")):
            faults.parse(bad)


def test_nan_loss_stops_the_cell_naming_epoch_and_batch(bench, tmp_path, monkeypatch):
    monkeypatch.setenv(faults.ENV, "nan_loss@1:2")
    out = tmp_path / "cell"
    with pytest.raises(TrainingError) as err:
        train(bench, cell(bench[4]), out)
    message = str(err.value)
    assert "non-finite loss nan at stage1 epoch 1, batch 2" in message
    assert "digits/rho10/split0/unimix_bayias/seed0" in message and "optimizer.lr" in message
    assert not any((out / name).exists() for name in RESULTS)
    client, run, state = run_of(bench, out)  # the checkpoint of the last good epoch is kept
    assert state["epoch"] == 1 and len(state["history"]) == 1
    assert run.info.status == "FAILED" and "epoch 1, batch 2" in run.data.tags["ltgrid.error"]
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == [0] and all(torch.isfinite(torch.tensor(m.value)) for m in history)


def test_a_checkpoint_holds_no_predictions_and_resumes_to_the_end(bench, tmp_path, monkeypatch):
    """Lean checkpoints: model, optimiser, RNG states and history; the best epoch's test logits
    live in their own file, named by the checkpoint; the finished cell removes both."""
    import numpy as np

    from ltgrid.train.checkpoint import BEST_GLOB

    monkeypatch.setenv(faults.ENV, "nan_loss@1:0")  # stop after epoch 0 is checkpointed
    out = tmp_path / "cell"
    with pytest.raises(TrainingError):
        train(bench, cell(bench[4]), out)
    saved = torch.load(out / CHECKPOINT, weights_only=False)
    assert set(saved) == {"model", "optimizer", "generator", "rng", "state", "cell", "layout"}
    def arrays(value):  # every array-like anywhere in the payload, but the model and optimiser
        if isinstance(value, dict):
            return [a for v in value.values() for a in arrays(v)]
        if isinstance(value, (list, tuple)):
            return [a for v in value for a in arrays(v)]
        return [value] if isinstance(value, (np.ndarray, torch.Tensor)) else []
    n_test = 50 * 10
    rest = {k: v for k, v in saved.items() if k not in ("model", "optimizer")}
    assert all(a.shape[:1] != (n_test,) for a in arrays(rest) if a.ndim), "prediction-sized array in the checkpoint"
    best = saved["state"]["best"]
    assert set(best) == {"test", "val"} and {b["epoch"] for b in best.values()} == {0}
    assert sorted(p.name for p in out.glob(BEST_GLOB)) == ["best-e0.npz"] == sorted({b["file"] for b in best.values()})
    with np.load(out / "best-e0.npz") as z:
        assert z["test"].shape == (n_test, 10) and z["val"].shape == (20 * 10, 10)

    monkeypatch.delenv(faults.ENV)
    train(bench, cell(bench[4]), out)  # resumes at epoch 1 and finishes
    assert not (out / CHECKPOINT).exists() and not list(out.glob(BEST_GLOB))
    with np.load(out / "predictions.npz") as z:
        assert z["test_logits_best_test"].shape == z["test_logits_best_val"].shape == (n_test, 10)


def test_a_real_overflow_is_caught_too(bench, tmp_path):
    resolved = cell(bench[4], method="ce")
    resolved["recipe"]["optimizer"]["lr"] = 1e30
    out = tmp_path / "cell"
    with pytest.raises(TrainingError, match=r"non-finite loss (nan|inf) at stage1 epoch \d+, batch \d+ \(lr 1e\+30\)"):
        train(bench, resolved, out)
    assert not any((out / name).exists() for name in RESULTS)


def test_out_of_gpu_memory_names_the_cell_and_the_params(bench, tmp_path, monkeypatch):
    monkeypatch.setenv(faults.ENV, "oom@0:1")
    out = tmp_path / "cell"
    resolved = cell(bench[4], method="ce")
    with pytest.raises(TrainingError) as err:
        train(bench, resolved, out)
    message = str(err.value)
    batch = resolved["recipe"]["batch_size"]  # the default recipe's, whatever it is now
    assert message.startswith(f"default/digits/rho10/split0/ce/seed0: out of GPU memory (batch_size={batch}")
    assert "recipes.digits.batch_size" in message and "LTGRID_SLOTS_PER_GPU=1" in message
    assert not any((out / name).exists() for name in RESULTS)


def test_secrets_never_reach_params_or_uris(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://alice:s3cr%40t@mlflow.example.org:5000/")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    assert tracking.tracking_uri("ignored") == "https://mlflow.example.org:5000/"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice" and os.environ["MLFLOW_TRACKING_PASSWORD"] == "s3cr@t"
    assert tracking.redact("postgresql://bob:pw@db:5432/mlflow") == "postgresql://***@db:5432/mlflow"
    flat = cell_run.flatten({"recipe": {"lr": 0.1}, "tracking": {"password": "x", "api_token": "y", "uri": "u"}})
    assert flat == {"recipe.lr": "0.1", "tracking.uri": "u"}


def test_init_tracking_never_prints_the_password(tmp_path):
    """A server that cannot be reached: the failure is reported without the credentials."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "MLFLOW_TRACKING_URI": f"http://alice:s3cret@127.0.0.1:{port}",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
        "PATH": "/usr/bin:/bin:" + str(Path(sys.executable).parent),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "ltgrid", "init-tracking", "--config", '{"grid": "g"}', "--out", str(tmp_path / "t.json")],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert f"127.0.0.1:{port}" in proc.stdout + proc.stderr
    assert "s3cret" not in proc.stdout + proc.stderr


def test_ui_binds_to_localhost_unless_told(monkeypatch, tmp_path):
    from ltgrid import cli
    from ltgrid.tracking import ui

    calls = []

    class Started:  # what `mlflow ui` would be; the real server is started in test_hostile.py
        pid = 0

        def __init__(self, cmd, **kw):
            calls.append(cmd)

        def wait(self):
            return 0

        def poll(self):
            return 0

    monkeypatch.setattr(ui.subprocess, "Popen", Started)
    monkeypatch.setenv("LTGRID_PROJECT_ROOT", str(tmp_path))
    cli.main(["ui", "--uri", f"sqlite:///{tmp_path}/x.db"])
    cli.main(["ui", "--uri", f"sqlite:///{tmp_path}/x.db", "--host", "0.0.0.0", "--port", "5001"])
    assert calls[0][calls[0].index("--host") + 1] == "127.0.0.1"
    assert calls[1][calls[1].index("--host") + 1] == "0.0.0.0" and "5001" in calls[1]


def test_no_unsafe_yaml_loader_anywhere():
    pattern = re.compile(r"yaml\.(load|load_all|unsafe_load|full_load)\(|Loader=yaml\.(Unsafe|Full)?Loader")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("src", "workflow", "tests")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".smk") and path.name != "test_faults.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == [] and "safe_load" in (ROOT / "src/ltgrid/params/loading.py").read_text()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    from ltgrid.io import atomic_path, write_json

    target = tmp_path / "metrics.json"
    write_json(target, {"done": True})
    with pytest.raises(RuntimeError, match="killed mid-write"):
        with atomic_path(target) as tmp:
            tmp.write_text('{"done": fal')
            raise RuntimeError("killed mid-write")
    assert target.read_text() == '{\n  "done": true\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_atomic_writes_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    """Results are shared (DVC cache, a team's cluster): same mode as a plain open() would give."""
    from ltgrid.io import write_text

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    write_text(tmp_path / "atomic.txt", "x")
    assert (tmp_path / "atomic.txt").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 != 0o600


def test_a_killed_writer_leaves_only_a_hidden_temporary(tmp_path):
    """SIGKILL skips every cleanup: the half-written bytes sit under a hidden temporary
    name, never under the output's name, so Snakemake still sees the output missing."""
    script = (
        "import os, sys\nfrom ltgrid.io import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('half')\n    os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "predictions.npz")], timeout=60)
    assert proc.returncode == -9
    names = [p.name for p in tmp_path.iterdir()]
    assert "predictions.npz" not in names
    assert len(names) == 1 and re.fullmatch(r"\.predictions\.npz\.\w+\.tmp", names[0]), names
