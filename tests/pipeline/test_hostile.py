"""Faults found by a hostile run (issue 14), each reproduced on one tiny grid with the real
Snakemake and MLflow: deleted results, a stale metrics.json, a damaged or foreign tracking
store, a kill after a cell's run.json, a second run beside a live one, a stale lock, two
grids sharing a dataset name, and the UI's landing page.

One grid (ce and mixup on digits, 2 epochs) is run once for the module; the tests then
damage it in turn, in file order, and each ends by running the recovery the pipeline
advised, so the next test starts from a finished, consistent grid again.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ltgrid.tracking.grid_run import GRID_RUN_TAG

from tests.conftest import cell_dir, copy_project, data_file, run, tiny_grid, write_params
from tests.helpers.cifar_archives import make_image_folder_archive, truncate

pytestmark = pytest.mark.pipeline
GRID = "hostile"
PARAMS = f"{GRID}.yaml"
METHODS = ("ce", "mixup")
TABLE = f"results/tables/{GRID}/top1_err_final.csv"


def grid_config(mixup_alpha: float = 1.0) -> dict:
    config = tiny_grid(grid=GRID, epochs=2, methods=["ce", "mixup"])
    if mixup_alpha != 1.0:
        config["method_library"] = {"mixup": {"mixing": {"name": "mixup", "alpha": mixup_alpha}}}
    return config


def cells(root: Path) -> dict[str, str]:
    """Each method's cell folder (relative to the root) under the grid's params as they are now."""
    return {m: str(cell_dir(root, PARAMS, m).relative_to(root)) for m in METHODS}


def snakemake(root: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["snakemake", "--cores", "2", *extra, "--configfile", PARAMS], root, timeout=900, check=check)


def advised(message: str) -> list[str]:
    """The backquoted commands of an error line, in order."""
    return re.findall(r"`([^`]+)`", message)


def run_advice(root: Path, message: str) -> None:
    for command in advised(message):
        run(["bash", "-c", command], root, timeout=900)


def error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, (proc.stdout + proc.stderr)[-3000:]
    return lines[0]


def store_path(root: Path) -> Path:
    uri = json.loads((root / f"results/runs/{GRID}/tracking.json").read_text())["uri"]
    return Path(uri.removeprefix("sqlite:///"))


LIST_RUNS = """
import json, sys
from mlflow.tracking import MlflowClient
info = json.load(open(sys.argv[1]))
runs = MlflowClient(tracking_uri=info["uri"]).search_runs([info["experiment_id"]], "tags.cell != ''")
print(json.dumps([{"cell": r.data.tags["cell"], "status": r.info.status, "metrics": sorted(r.data.metrics)} for r in runs]))
"""


def cell_runs(root: Path) -> dict[str, list[dict]]:
    """MLflow runs of the grid's experiment per cell label, read by a fresh process (MLflow
    caches a store's connection per URI, which would outlive a store moved aside)."""
    proc = run([sys.executable, "-c", LIST_RUNS, f"results/runs/{GRID}/tracking.json"], root)
    out: dict[str, list[dict]] = {}
    for r in json.loads(proc.stdout):
        out.setdefault(r["cell"], []).append(r)
    return out


def assert_tables_match_cells(root: Path, alpha: float, logged: tuple[str, ...] = METHODS) -> None:
    """Each table figure is the top-1 error of the cell's metrics.json, and that cell's recipe is
    now's; the cells of `logged` have one finished run each in the grid's store."""
    import pandas as pd

    table = pd.read_csv(root / TABLE, index_col="method", dtype=str)
    CELLS = cells(root)
    for method, cell in CELLS.items():
        metrics = json.loads((root / cell / "metrics.json").read_text())
        assert table.loc[method].iloc[0].startswith(f"{metrics['protocols']['final']['top1_err']:.2f}"), table
    recorded = json.loads((root / CELLS["mixup"] / "metrics.json").read_text())["cell"]
    assert recorded["method_spec"]["mixing"]["alpha"] == alpha
    runs = cell_runs(root)
    assert sorted(runs) == sorted(f"{GRID}/digits/rho10/split0/{m}/seed0" for m in logged), runs
    for label, found in runs.items():
        assert len(found) == 1, f"{label} has {len(found)} MLflow runs"
        assert found[0]["status"] == "FINISHED" and "final_top1_err" in found[0]["metrics"]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("hostile") / "project")
    write_params(root / PARAMS, grid_config())
    snakemake(root)
    assert_tables_match_cells(root, 1.0)
    return root


def test_deleted_results_are_recomputed(project):
    """Deleting a cell's predictions.npz or metrics.json used to leave "Nothing to be done"."""
    CELLS = cells(project)
    predictions = project / CELLS["mixup"] / "predictions.npz"
    kept = predictions.read_bytes(), predictions.stat()
    predictions.unlink()
    dry = snakemake(project, "-n")
    plan = dry.stdout + dry.stderr
    assert "rule train:" in plan and f"Missing output files: {CELLS['mixup']}/predictions.npz" in plan, plan[-3000:]
    predictions.write_bytes(kept[0])  # put back as it was: the kill test below deletes it for real
    os.utime(predictions, ns=(kept[1].st_atime_ns, kept[1].st_mtime_ns))

    before = (project / CELLS["ce"] / "metrics.json").read_text()
    table_mtime = (project / TABLE).stat().st_mtime
    (project / CELLS["ce"] / "metrics.json").unlink()
    out = snakemake(project)
    assert "rule train" not in out.stdout + out.stderr and "rule evaluate" in out.stdout + out.stderr
    assert (project / TABLE).stat().st_mtime > table_mtime
    assert json.loads((project / CELLS["ce"] / "metrics.json").read_text()) == json.loads(before)
    assert_tables_match_cells(project, 1.0)


def test_a_stale_metrics_file_stops_the_tables(project):
    """A metrics.json whose recorded recipe is not its folder's (a file copied in, edited, or left
    by older code) must never reach a table. An edited recipe is a new folder, so only such a
    foreign file can be stale; the tables check every cell they read when they are (re)made."""
    CELLS = cells(project)
    path = project / CELLS["ce"] / "metrics.json"
    stale = json.loads(path.read_text())
    stale["cell"]["recipe"]["optimizer"]["lr"] = 0.5  # as if trained for another recipe
    path.write_text(json.dumps(stale))
    (project / TABLE).unlink()  # the tables are made again, from what the folders hold now
    proc = snakemake(project, check=False)
    assert proc.returncode != 0
    log = (project / f"results/logs/{GRID}/tables.log").read_text()
    message = error_line(subprocess.CompletedProcess([], 1, log, ""))
    assert "computed for other params than the grid's current ones" in message and CELLS["ce"] in message, log
    assert not (project / TABLE).exists()  # Snakemake removes a failed job's outputs: no stale table is left
    run_advice(project, message)  # rm -r <cell>; the next test's recovery run retrains it
    dry = snakemake(project, "-n")
    plan = dry.stdout + dry.stderr
    assert "rule train:" in plan and f"Missing output files: {CELLS['ce']}/" in plan, plan[-3000:]


def test_a_foreign_or_damaged_store_is_named_before_any_job(project, tmp_path):
    from mlflow.tracking import MlflowClient

    db = store_path(project)
    other = tmp_path / "other.db"
    MlflowClient(tracking_uri=f"sqlite:///{other}").create_experiment("someone-else")
    db.write_bytes(other.read_bytes())
    foreign = error_line(snakemake(project, "-n", check=False))
    assert f"tracking store {db} is not the one" in foreign and "'ltgrid-hostile'" in foreign, foreign

    # The case: the store truncated, then mixup's alpha changed from 1.0 to 0.5.
    db.write_bytes(b"")
    write_params(project / PARAMS, grid_config(mixup_alpha=0.5))
    proc = snakemake(project, check=False)
    damaged = error_line(proc)
    assert f"tracking store {db} is empty (0 bytes)" in damaged, damaged
    assert "rule train" not in proc.stdout + proc.stderr and db.stat().st_size == 0  # no job touched it
    assert len(advised(damaged)) == 1
    run_advice(project, damaged)  # mv the store aside, rm tracking.json
    out = snakemake(project)
    trained = re.findall(r"rule train:\n(?:[ \t]+[^\n]*\n)*?[ \t]+wildcards: [^\n]*method=(\w+)", out.stderr)
    # mixup's edited alpha is a new cell; ce's folder was removed by the stale-metrics recovery above.
    # Nothing is retrained for the new store itself.
    assert sorted(trained) == ["ce", "mixup"], trained
    assert_tables_match_cells(project, 0.5)


def snakemake_processes(root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["snakemake", "--cores", "1", "--configfile", PARAMS], cwd=root, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def test_a_kill_after_run_json_leaves_one_run_and_the_right_advice(project):
    """SIGKILL once the cell's run.json exists, before Snakemake records the job; a second
    snakemake meanwhile is told a run is live, after the kill how to unlock and rerun."""
    cell = project / cells(project)["mixup"]
    before = json.loads((cell / "metrics.json").read_text())
    (cell / "predictions.npz").unlink()
    proc = snakemake_processes(project)
    try:
        deadline = time.monotonic() + 600
        while not (cell / "checkpoint.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the train job never checkpointed"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGSTOP)  # paused, still live: the cell must not finish meanwhile
        try:
            live = error_line(snakemake(project, check=False))
        finally:
            os.killpg(proc.pid, signal.SIGCONT)
        assert f"another snakemake (pid {proc.pid}) is running" in live, live
        while not (cell / "run.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the train job ended without run.json"
            time.sleep(0.005)
        kill_group(proc)
    finally:
        kill_group(proc)
    stale = error_line(snakemake(project, check=False))
    assert "a killed run left its lock" in stale, stale
    unlock, rerun = advised(stale)
    assert unlock == f"snakemake --unlock --configfile {PARAMS}", stale
    assert rerun == f"snakemake --rerun-incomplete --cores 2 --configfile {PARAMS}", stale
    run(shlex.split(unlock), project)
    out = run(shlex.split(rerun), project, timeout=900)
    assert "rule train" in out.stdout + out.stderr, "the kill landed after Snakemake saw the job finish"
    assert_tables_match_cells(project, 0.5)  # one MLflow run for the cell, with its final metrics
    assert json.loads((cell / "metrics.json").read_text()) == before


def test_a_failed_prepare_leaves_another_grids_data(project, tmp_path):
    """A second grid naming its own `digits` after a truncated image archive (checksum of the
    truncated copy): its prepare fails in one line and the first grid's data stays."""
    ours = data_file(project, grid_config(), "digits")
    stamp = (ours.stat().st_mtime_ns, ours.read_bytes())
    archive = tmp_path / "images.tar.gz"
    make_image_folder_archive(archive, ["a", "b"], train_per_class=40, test_per_class=2)
    short = truncate(archive, tmp_path / "short.tar.gz", keep=0.6)
    import hashlib

    other = grid_config()
    other["grid"] = "other"
    other["datasets"]["digits"]["source"] = {
        "kind": "image_folder_archive", "path": str(short), "classes": ["a", "b"],
        "sha256": hashlib.sha256(short.read_bytes()).hexdigest(),
    }
    write_params(project / "other.yaml", other)
    theirs = data_file(project, other, "digits")
    assert theirs != ours
    proc = run(["snakemake", "--cores", "1", str(theirs.relative_to(project)), "--configfile", "other.yaml"],
               project, check=False)
    assert proc.returncode != 0
    log = (project / f"results/logs/prepare/digits/{theirs.parent.name}.log").read_text()
    assert re.search(r"^error: archive .*short.tar.gz is truncated or corrupt: ", log, flags=re.M), log
    assert "Traceback" not in log and not theirs.exists()
    assert (ours.stat().st_mtime_ns, ours.read_bytes()) == stamp
    dry = snakemake(project, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_prints_and_opens_the_runs_table(project, tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ltgrid", "ui", "--grid", GRID, "--port", str(port), "--open"], cwd=project,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "BROWSER": str(browser)},
    )
    try:
        first = proc.stdout.readline()
        exp_id = json.loads((project / f"results/runs/{GRID}/tracking.json").read_text())["experiment_id"]
        url = f"http://127.0.0.1:{port}/#/experiments/{exp_id}/runs?viewStateShareKey=headline"
        assert first.strip().endswith(url), first
        deadline = time.monotonic() + 240
        while not opened.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the UI never answered or no browser opened"
            time.sleep(0.5)
        time.sleep(0.2)
        assert opened.read_text().strip() == url
        body = json.dumps({"experiment_ids": [exp_id], "max_results": 10}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            runs = json.load(resp)["runs"]
        cell_runs = [r for r in runs if GRID_RUN_TAG not in {t["key"] for t in r["data"].get("tags", [])}]
        assert len(cell_runs) == len(METHODS)  # the grid's own run (tables, figures) is not a cell's
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
