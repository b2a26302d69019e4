"""SLURM: the local one-node cluster hands each GPU job its own GPU, and the pipeline runs on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ltgrid import params as ltparams

from conftest import copy_project
from slurm_cluster import SlurmCluster, slurm_cluster  # noqa: E402,F401

pytestmark = pytest.mark.slurm

GPU_JOB = (
    'echo "gpus=$CUDA_VISIBLE_DEVICES job_gpus=$SLURM_JOB_GPUS start=$(date +%s.%N)"; '
    'sleep 3; echo "end=$(date +%s.%N)"'
)


def _parse(out: Path) -> dict[str, str]:
    return dict(part.split("=", 1) for part in out.read_text().split())


def test_gpu_jobs_run_side_by_side_with_distinct_gpus(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    cluster = slurm_cluster
    outs = [tmp_path / f"job{i}.out" for i in range(cluster.n_gpus)]
    for out in outs:
        cluster.run("sbatch", "--parsable", "--gres=gpu:1", "--cpus-per-task=1", "-o", str(out), "--wrap", GPU_JOB)
    cluster.wait_empty(timeout=60)
    time.sleep(0.5)  # the last output lines reach the file as the job ends
    runs = [_parse(out) for out in outs]

    gpus = [r["gpus"] for r in runs]
    assert all(gpus), f"a job got no CUDA_VISIBLE_DEVICES: {runs}"
    assert sorted(gpus) == sorted({*gpus}), f"two jobs shared a GPU: {gpus}"
    assert all(r["gpus"] == r["job_gpus"] for r in runs), runs
    latest_start = max(float(r["start"]) for r in runs)
    earliest_end = min(float(r["end"]) for r in runs)
    assert latest_start < earliest_end, f"jobs did not overlap (ran one after another): {runs}"


REPO = Path(__file__).resolve().parents[2]
# Fewer epochs than the embedded grid's 200, merged over params/default.yaml: the cells
# (dataset x ratio x method x seed) stay the default grid's, the run takes minutes.
FAST_RECIPE = "recipes:\n  digits:\n    epochs: 3\n    lr_schedule: {warmup_epochs: 1, steps: [{epoch: 2, factor: 0.1}]}\n"


@pytest.mark.pipeline
def test_default_grid_runs_on_slurm(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    if not (REPO / "Snakefile").exists():
        pytest.fail("no Snakefile in the repository root")
    repo = copy_project(tmp_path / "repo")
    fast = tmp_path / "fast.yaml"
    fast.write_text(FAST_RECIPE)
    env = dict(slurm_cluster.env)
    for var in ("MLFLOW_TRACKING_URI", "LTGRID_GPU_IDS", "LTGRID_SLOTS_PER_GPU", "LTGRID_LOCK_DIR"):
        env.pop(var, None)
    env["LTGRID_PROJECT_ROOT"] = str(repo)
    env["PYTHONPATH"] = os.pathsep.join([str(repo / "src"), env.get("PYTHONPATH", "")])
    cmd = [
        sys.executable, "-m", "snakemake", "--profile", "workflow/profiles/slurm",
        "--configfile", "params/default.yaml", str(fast),
        "--slurm-init-seconds-before-status-checks", "5", "--slurm-keep-successful-logs",
    ]
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"snakemake failed:\n{proc.stderr[-6000:]}\n{slurm_cluster.log_tail()}"

    n_cells = len(ltparams.cells(ltparams.load_yaml(repo / "params" / "default.yaml")))
    runs = [json.loads(p.read_text()) for p in sorted((repo / "results" / "runs").rglob("run.json"))]
    assert len(runs) == n_cells, f"expected {n_cells} trained cells, found {len(runs)}"

    # Every training job ran inside SLURM with one GPU of its own at a time.
    assert all(r.get("slurm_job_id") for r in runs), [r.get("slurm_job_id") for r in runs]
    assert len({r["slurm_job_id"] for r in runs}) == n_cells, "two cells shared one SLURM job"
    gpus = [r.get("cuda_visible_devices") for r in runs]
    assert all(g is not None and g.isdigit() and int(g) < slurm_cluster.n_gpus for g in gpus), gpus
    assert len(set(gpus)) > 1, f"all cells ran on GPU {gpus[0]}: SLURM never ran two side by side"

    tables = list((repo / "results" / "tables").rglob("*.md"))
    assert tables and all(t.stat().st_size > 0 for t in tables), tables

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=runs[0]["tracking_uri"])
    from ltgrid.tracking.grid_run import is_grid_run

    found = client.search_runs([runs[0]["experiment_id"]], max_results=1000)
    found = [r for r in found if not is_grid_run(r.data.tags)]  # the grid's own run holds tables, not a cell
    assert {r["run_id"] for r in runs} <= {r.info.run_id for r in found}
    names = [r.info.run_name for r in found]
    assert len(found) == n_cells and len(set(names)) == n_cells, names
