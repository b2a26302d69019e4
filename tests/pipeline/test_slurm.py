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
PROFILE_ARGS = "--profile workflow/profiles/slurm --slurm-init-seconds-before-status-checks 5 --slurm-keep-successful-logs"


def fast_default_grid(repo: Path) -> None:
    """The embedded grid's cells (dataset x ratio x method x seed) with 3 epochs: minutes, not hours."""
    import yaml

    path = repo / "params" / "default.yaml"
    config = yaml.safe_load(path.read_text())
    config["recipes"]["digits"].update(epochs=3, lr_schedule={"warmup_epochs": 1, "steps": [{"epoch": 2, "factor": 0.1}]})
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.pipeline
def test_the_team_set_up_on_slurm(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """The grid through DVC on the SLURM profile, every cell logging to a shared MLflow server on
    127.0.0.1; the results pushed to a DVC remote; another clone pulls them and plans nothing."""
    from test_mlflow_ui import free_port, mlflow_server

    if not (REPO / "Snakefile").exists():
        pytest.fail("no Snakefile in the repository root")
    repo = copy_project(tmp_path / "repo")
    fast_default_grid(repo)
    git(repo, "commit", "-qam", "3 epochs")
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    port = free_port()
    cmd = ["mlflow", "server", "--backend-store-uri", f"sqlite:///{server_dir / 'mlflow.db'}", "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    with mlflow_server(cmd, server_dir, tmp_path / "server.log") as uri:
        env = dict(slurm_cluster.env)
        for var in ("LTGRID_GPU_IDS", "LTGRID_SLOTS_PER_GPU", "LTGRID_LOCK_DIR"):
            env.pop(var, None)
        env.update(MLFLOW_TRACKING_URI=uri, LTGRID_PROJECT_ROOT=str(repo), LTGRID_SNAKEMAKE_ARGS=PROFILE_ARGS,
                   PYTHONPATH=os.pathsep.join([str(repo / "src"), env.get("PYTHONPATH", "")]))
        proc = subprocess.run(["dvc", "repro", "grids/dvc.yaml:grid@default"], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=1800)
        assert proc.returncode == 0, f"dvc repro failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}\n{slurm_cluster.log_tail()}"
        check_cells_ran_on_slurm(repo, uri, slurm_cluster)

        # the results pushed; another clone pulls them and has nothing to do
        subprocess.run(["dvc", "remote", "add", "-d", "store", str(tmp_path / "remote")], cwd=repo, env=env, check=True)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "grid run on the cluster")
        subprocess.run(["dvc", "push"], cwd=repo, env=env, check=True, capture_output=True, timeout=600)
        clone = tmp_path / "clone"
        git(tmp_path, "clone", "-q", str(repo), str(clone))
        subprocess.run(["dvc", "pull", "grids/dvc.yaml:grid@default"], cwd=clone, env=env, check=True, capture_output=True,
                       timeout=600)
        env["LTGRID_PROJECT_ROOT"] = str(clone)
        plan = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", "grid=default"], cwd=clone,
                              env=env, capture_output=True, text=True, timeout=600)
        assert "Nothing to be done" in plan.stdout + plan.stderr, (plan.stdout + plan.stderr)[-4000:]


def check_cells_ran_on_slurm(repo: Path, uri: str, cluster: SlurmCluster) -> None:
    """Every cell trained in its own SLURM job on a GPU of its own, and logged its run to the server."""
    n_cells = len(ltparams.cells(ltparams.load_yaml(repo / "params" / "default.yaml")))
    runs = [json.loads(p.read_text()) for p in sorted((repo / "results" / "runs").rglob("run.json"))]
    assert len(runs) == n_cells, f"expected {n_cells} trained cells, found {len(runs)}"
    assert all(r.get("slurm_job_id") for r in runs), [r.get("slurm_job_id") for r in runs]
    assert len({r["slurm_job_id"] for r in runs}) == n_cells, "two cells shared one SLURM job"
    gpus = [r.get("cuda_visible_devices") for r in runs]
    assert all(g is not None and g.isdigit() and int(g) < cluster.n_gpus for g in gpus), gpus
    assert len(set(gpus)) > 1, f"all cells ran on GPU {gpus[0]}: SLURM never ran two side by side"
    tables = list((repo / "results" / "tables").rglob("*.md"))
    assert tables and all(t.stat().st_size > 0 for t in tables), tables

    import mlflow

    from ltgrid.tracking.grid_run import GRID_RUN_TAG

    assert {r["tracking_uri"] for r in runs} == {uri}, "a cell logged somewhere else than the shared server"
    client = mlflow.MlflowClient(tracking_uri=uri)
    found = client.search_runs([runs[0]["experiment_id"]], max_results=1000)
    cells = [r for r in found if GRID_RUN_TAG not in r.data.tags]  # the grid's own run holds tables, not a cell
    assert {r["run_id"] for r in runs} == {r.info.run_id for r in cells}
    assert all(r.info.status == "FINISHED" and "final_top1_err" in r.data.metrics for r in cells)
    names = [r.info.run_name for r in cells]
    assert len(set(names)) == n_cells, names
