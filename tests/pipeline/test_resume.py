"""Kill a real training job mid-run, rerun Snakemake, and get exactly the uninterrupted result.

One digits cell (unimix_bayias: mixing + Beta draws + a prior loss, so every generator
matters) trains for 12 epochs in two fresh copies of the project. In the first, Snakemake
and its job are SIGKILLed once the checkpoint holds epoch 2 or later; `--rerun-incomplete`
must resume from the checkpoint, continue the same MLflow run and end with the metrics of
the second, uninterrupted copy, bit for bit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from ltgrid.tracking.grid_run import GRID_RUN_TAG

from tests.conftest import cell_dir, copy_project, run, tiny_grid, write_params

pytestmark = pytest.mark.pipeline
EPOCHS = 12
METHOD = "unimix_bayias"


def cell_of(root: Path) -> Path:
    return cell_dir(root, "resume.yaml", METHOD)


def log_of(root: Path) -> Path:
    """The cell's train log: results/logs/<grid>/... mirrors its folder, the key naming the file."""
    cell = cell_of(root)
    return root / "results/logs" / cell.parent.relative_to(root / "results/runs") / f"{cell.name}.train.log"


def project(dest: Path) -> Path:
    root = copy_project(dest)
    write_params(root / "resume.yaml", tiny_grid(grid="resume", epochs=EPOCHS, methods=[METHOD]))
    return root


def snakemake(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return run(["snakemake", "--cores", "1", "--configfile", "resume.yaml", *extra], root, timeout=600)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children first found through /proc)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def checkpoint_epoch(path: Path) -> int:
    try:
        return len(torch.load(path, map_location="cpu", weights_only=False)["state"]["history"])
    except (OSError, EOFError, RuntimeError, KeyError):
        return -1  # not there yet


def kill_mid_run(root: Path) -> dict:
    """Start the pipeline, SIGKILL it and its jobs once epoch >= 2 is checkpointed; return the checkpoint state."""
    ckpt = cell_of(root) / "checkpoint.pt"
    proc = subprocess.Popen(
        ["snakemake", "--cores", "1", "--configfile", "resume.yaml"], cwd=root, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    try:
        while checkpoint_epoch(ckpt) < 2:
            assert proc.poll() is None, "the pipeline ended before the kill"
            assert time.monotonic() < deadline, "no checkpoint with epoch >= 2 within 300 s"
            time.sleep(0.02)
        victims = descendants(proc.pid)
        train = [p for p in victims if b"ltgrid\x00train" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert train, "no `python -m ltgrid train` process under snakemake"
        os.killpg(proc.pid, signal.SIGKILL)
        for pid in victims:  # a job in its own session would survive the group kill
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    finally:
        proc.wait(timeout=30)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state"]
    assert 2 <= len(state["history"]) < EPOCHS, "the kill did not land mid-run"
    print(f"killed after epoch {len(state['history'])} of {EPOCHS}; train pids {train}")
    return state


def runs_of(root: Path) -> tuple:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("ltgrid-resume")
    cells = [r for r in client.search_runs([exp.experiment_id]) if GRID_RUN_TAG not in r.data.tags]
    return client, cells


def test_killed_cell_resumes_to_the_uninterrupted_result(tmp_path):
    killed = project(tmp_path / "killed")
    before = kill_mid_run(killed)
    cell = cell_of(killed)
    assert not (cell / "run.json").exists() and not (cell / "metrics.json").exists()
    assert not list(cell.glob(".*.tmp")), "a temporary file was left looking like output"

    # A SIGKILLed Snakemake cannot remove its lock: the user unlocks, then reruns.
    snakemake(killed, "--unlock")
    out = snakemake(killed, "--rerun-incomplete")
    log = log_of(killed).read_text()
    assert f"resuming at stage 0, epoch {len(before['history'])}" in log, log

    client, runs = runs_of(killed)
    assert [r.info.run_id for r in runs] == [before["run_id"]], "the rerun made a new MLflow run"
    assert runs[0].info.status == "FINISHED"
    history = client.get_metric_history(before["run_id"], "train_loss")
    assert sorted(m.step for m in history) == list(range(EPOCHS)), "an epoch was lost or logged twice"
    assert not (cell / "checkpoint.pt").exists()

    clean = project(tmp_path / "clean")
    snakemake(clean)
    resumed = json.loads((cell / "metrics.json").read_text())
    uninterrupted = json.loads((cell_of(clean) / "metrics.json").read_text())
    assert resumed["protocols"] == uninterrupted["protocols"], out.stderr[-3000:]
    assert resumed["cell"] == uninterrupted["cell"]
    with_losses = [json.loads((cell_of(root) / "run.json").read_text())["history"] for root in (killed, clean)]
    assert with_losses[0] == with_losses[1], "the per-epoch history differs after resuming"
