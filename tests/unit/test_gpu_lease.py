"""The GPU lease: N concurrent jobs with fake ids never share one; a killed holder frees its id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ltgrid.train.gpu_lease import LeaseTimeout, gpu_lease

HOLDER = """
import json, os, sys, time
from ltgrid.train.gpu_lease import gpu_lease
with gpu_lease(poll_s=0.05) as gpu:
    start = time.time()
    print(json.dumps({"event": "got", "gpu": gpu}), flush=True)
    time.sleep(float(sys.argv[1]))
    end = time.time()
with open(sys.argv[2], "a") as fh:
    fh.write(json.dumps({"gpu": gpu, "start": start, "end": end, "pid": os.getpid()}) + "\\n")
"""


def env_with(lock_dir: Path, ids: str, slots: int = 1) -> dict[str, str]:
    env = dict(os.environ, LTGRID_GPU_IDS=ids, LTGRID_LOCK_DIR=str(lock_dir), LTGRID_SLOTS_PER_GPU=str(slots))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def run_holders(tmp_path: Path, n_jobs: int, ids: str, slots: int = 1) -> list[dict]:
    log = tmp_path / "leases.jsonl"
    env = env_with(tmp_path / "locks", ids, slots)
    procs = [
        subprocess.Popen([sys.executable, "-c", HOLDER, "0.6", str(log)], env=env, stdout=subprocess.DEVNULL)
        for _ in range(n_jobs)
    ]
    for p in procs:
        assert p.wait(timeout=60) == 0
    return [json.loads(line) for line in log.read_text().splitlines()]


def overlapping(a: dict, b: dict) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def test_concurrent_jobs_never_share_a_gpu(tmp_path):
    records = run_holders(tmp_path, n_jobs=8, ids="0,1,2,3")
    assert len(records) == 8
    assert {r["gpu"] for r in records} <= {"0", "1", "2", "3"}
    for i, a in enumerate(records):
        for b in records[i + 1 :]:
            if a["gpu"] == b["gpu"]:
                assert not overlapping(a, b), (a, b)
    # all four ids were used at once at some point (the jobs really ran side by side)
    first = sorted(records, key=lambda r: r["start"])[:4]
    assert len({r["gpu"] for r in first}) == 4


def test_slots_per_gpu_allow_k_jobs_per_id(tmp_path):
    records = run_holders(tmp_path, n_jobs=4, ids="0", slots=2)
    for r in records:  # at every moment a job starts, at most 2 jobs hold GPU 0
        holding = [o for o in records if o["start"] <= r["start"] < o["end"]]
        assert len(holding) <= 2, holding
    assert max(sum(o["start"] <= r["start"] < o["end"] for o in records) for r in records) == 2


def test_killed_holder_releases_its_gpu(tmp_path):
    env = env_with(tmp_path / "locks", "7")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, "60", str(tmp_path / "x.jsonl")], env=env, stdout=subprocess.PIPE, text=True
    )
    assert json.loads(holder.stdout.readline())["gpu"] == "7"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        with pytest.raises(LeaseTimeout):
            with gpu_lease(poll_s=0.05, timeout_s=0.3):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        t0 = time.time()
        with gpu_lease(poll_s=0.05, timeout_s=5) as gpu:
            assert gpu == "7"
        assert time.time() - t0 < 5


def test_no_gpu_yields_none(monkeypatch):
    monkeypatch.delenv("LTGRID_GPU_IDS", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with gpu_lease() as gpu:
        assert gpu is None


def test_scheduler_assignment_is_respected(monkeypatch):
    monkeypatch.delenv("LTGRID_GPU_IDS", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with gpu_lease() as gpu:
        assert gpu == "3"
