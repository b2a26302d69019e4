"""SLURM: the local one-node cluster hands each GPU job its own GPU, and the pipeline runs on it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared fixture module
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
