"""Live run or stale lock: the advice names the right command (real processes, real /proc)."""

from __future__ import annotations

import subprocess
import time

import pytest

from ltgrid.locks import is_dry_run, live_snakemake_pids, lock_advice


def locked(root):
    (root / ".snakemake" / "locks").mkdir(parents=True)
    (root / ".snakemake" / "locks" / "0.input.lock").write_text("x\n")
    return root


def test_no_lock_no_advice(tmp_path):
    assert lock_advice(tmp_path, ["snakemake", "--cores", "1"]) is None


def test_a_stale_lock_gets_unlock_then_rerun_incomplete(tmp_path):
    argv = ["/usr/bin/snakemake", "--cores", "2", "--configfile", "p.yaml"]
    advice = lock_advice(locked(tmp_path), argv)
    assert advice == (
        "a killed run left its lock (no snakemake is running here): recover with "
        "`snakemake --unlock --configfile p.yaml` then `snakemake --rerun-incomplete --cores 2 --configfile p.yaml`"
    )
    again = lock_advice(tmp_path, ["snakemake", "--rerun-incomplete", "--configfile=p.yaml"])
    assert "`snakemake --unlock --configfile=p.yaml` then `snakemake --rerun-incomplete --configfile=p.yaml`" in again


def test_a_live_run_is_told_to_wait(tmp_path):
    locked(tmp_path)
    # a process whose argv[0] is `snakemake`, working in the project: what a live run looks like
    proc = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 60"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while proc.pid not in live_snakemake_pids(tmp_path):
            assert time.monotonic() < deadline, "the stand-in snakemake was not seen"
            time.sleep(0.05)
        advice = lock_advice(tmp_path, ["snakemake", "--cores", "1"])
        assert advice.startswith(f"another snakemake (pid {proc.pid}) is running in {tmp_path.resolve()}")
        assert "do not use --unlock or --rerun-incomplete" in advice
        assert live_snakemake_pids(tmp_path / ".snakemake") == []  # another folder: not this project's run
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("argv, dry", [
    (["snakemake", "-n"], True), (["snakemake", "-np", "--cores", "1"], True), (["snakemake", "--dry-run"], True),
    (["snakemake", "--cores", "1", "--configfile", "n.yaml"], False), (["snakemake", "-c1"], False),
])
def test_dry_runs_are_recognised(argv, dry):
    assert is_dry_run(argv) is dry
