"""GPU slot lease: each concurrently running job gets its own GPU id.

Snakemake counts `resources: gpu=1` but never sets CUDA_VISIBLE_DEVICES. A job takes a
non-blocking `fcntl.flock` on one lock file per (GPU id, slot) and holds it for its whole
life; the kernel drops the lock when the process dies, so a killed job frees its GPU.
Picking the "least busy" GPU instead races.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from ltgrid.errors import SettingError

ENV_IDS = "LTGRID_GPU_IDS"  # comma-separated ids to hand out (fake ids in tests)
ENV_SLOTS = "LTGRID_SLOTS_PER_GPU"  # concurrent jobs allowed per GPU
ENV_LOCK_DIR = "LTGRID_LOCK_DIR"


def default_lock_dir() -> Path:
    return Path(os.environ.get(ENV_LOCK_DIR) or Path(tempfile.gettempdir()) / f"ltgrid-gpu-locks-{os.getuid()}")


def visible_gpu_ids() -> list[str]:
    """GPU ids this machine offers, without initialising CUDA in this process."""
    if os.environ.get(ENV_IDS):
        return [g.strip() for g in os.environ[ENV_IDS].split(",") if g.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


class LeaseTimeout(RuntimeError):
    pass


@contextmanager
def gpu_lease(
    gpu_ids: list[str] | None = None,
    slots_per_gpu: int | None = None,
    lock_dir: Path | None = None,
    poll_s: float = 0.5,
    timeout_s: float | None = None,
) -> Iterator[str | None]:
    """Hold one free (GPU, slot) for the block and yield its GPU id; None when there is no GPU.

    When a scheduler (SLURM) already set CUDA_VISIBLE_DEVICES and no fake ids are given,
    that assignment is respected and no lock is taken.
    """
    if gpu_ids is None:
        if os.environ.get("CUDA_VISIBLE_DEVICES") and not os.environ.get(ENV_IDS):
            yield os.environ["CUDA_VISIBLE_DEVICES"]
            return
        gpu_ids = visible_gpu_ids()
    if not gpu_ids:
        yield None
        return
    slots = int(slots_per_gpu or os.environ.get(ENV_SLOTS) or 1)
    if slots < 1:
        raise SettingError(f"{ENV_SLOTS} must be >= 1, got {slots}")
    lock_dir = Path(lock_dir or default_lock_dir())
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    candidates = [(gpu, slot) for slot in range(slots) for gpu in gpu_ids]
    while True:
        for gpu, slot in candidates:
            fh = open(lock_dir / f"gpu{gpu}.slot{slot}.lock", "a+")
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            try:
                fh.seek(0)
                fh.truncate()
                fh.write(f"{os.getpid()}\n")
                fh.flush()
                yield gpu
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                fh.close()
            return
        if deadline is not None and time.monotonic() > deadline:
            raise LeaseTimeout(f"no free GPU slot among ids {gpu_ids} x {slots} slots after {timeout_s} s")
        time.sleep(poll_s)
