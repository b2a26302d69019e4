"""The real MLflow tracking server over the tiny report grid's store: its REST API lists one run
per cell with metrics and artifacts, and its UI, rendered by headless Chromium, names the runs.

The server runs in its own process group (started with setsid) and is stopped by that group's
id, so its uvicorn worker goes too; the test waits until every process of the group is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from test_report_pipeline import CELL_FIGURES, GRID, METHODS, SEEDS, build_report_project

pytestmark = pytest.mark.pipeline
READY_TIMEOUT_S = 240  # 4-8 s on an idle machine; much more when other suites share the 2 cores
CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="session")
def report_project(tmp_path_factory) -> Path:
    return build_report_project(tmp_path_factory.getbasetemp())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, body: dict | None = None, timeout: float = 30) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies awaiting their parent do not count)."""
    out = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True).stdout
    return any(line.split()[0] == str(pgid) and not line.split()[1].startswith("Z") for line in out.splitlines())


def stop_group(proc: subprocess.Popen, grace_s: float = 30) -> None:
    """SIGTERM the server's process group, SIGKILL what is left after `grace_s`, reap the leader."""
    pgid = proc.pid
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and (proc.poll() is None or group_alive(pgid)):
            time.sleep(0.2)
        if proc.poll() is not None and not group_alive(pgid):
            break
    proc.wait(timeout=10)


@contextmanager
def mlflow_server(cmd: list[str], cwd: Path, log: Path) -> Iterator[str]:
    """Start an MLflow server (or `mlflow ui`) in `cwd`, yield its base URL once /health answers, stop its group."""
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job-runner processes to chase
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{cmd[cmd.index('--port') + 1]}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{' '.join(cmd)} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not ready after {READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        stop_group(proc)
    assert not group_alive(proc.pid), "a process of the mlflow server's group outlived the stop"


@pytest.fixture(scope="module")
def server(report_project, tmp_path_factory):
    db = report_project / "mlflow.db"
    cmd = ["mlflow", "server", "--backend-store-uri", f"sqlite:///{db}", "--host", "127.0.0.1", "--port", str(free_port()),
           "--workers", "1"]
    with mlflow_server(cmd, report_project, tmp_path_factory.mktemp("mlflow-server") / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def experiment(server) -> dict:
    name = urllib.parse.quote(f"ltgrid-{GRID}")
    return get_json(f"{server}/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}")["experiment"]


@pytest.fixture(scope="module")
def runs(server, experiment) -> list[dict]:
    body = {"experiment_ids": [experiment["experiment_id"]], "filter": f"tags.grid = '{GRID}'", "max_results": 1000}
    return get_json(f"{server}/api/2.0/mlflow/runs/search", body).get("runs", [])


def expected_run_names() -> set[str]:
    return {f"{m} digits rho=10 seed={s}" for m in METHODS for s in SEEDS}


def test_rest_api_lists_one_run_per_cell_with_metrics(experiment, runs):
    assert experiment["name"] == f"ltgrid-{GRID}"
    tags = {t["key"]: t["value"] for t in experiment.get("tags", [])}
    assert json.loads(tags["ltgrid.grid_spec"])["methods"] == METHODS  # recorded by the tables rule
    assert sorted(r["info"]["run_name"] for r in runs) == sorted(expected_run_names())
    for r in runs:
        assert r["info"]["status"] == "FINISHED"
        metrics = {m["key"]: m["value"] for m in r["data"]["metrics"]}
        for protocol in ("final", "best_val", "best_test"):
            assert 0 <= metrics[f"{protocol}_top1_err"] <= 100 and f"{protocol}_ece" in metrics
        assert {"final_many_acc", "final_nll", "final_brier", "best_val_epoch", "train_loss"} <= set(metrics)
        run_tags = {t["key"]: t["value"] for t in r["data"]["tags"]}
        assert run_tags["grid"] == GRID and run_tags["rho"] == "10"


def test_rest_api_lists_each_runs_artifacts(server, runs):
    for r in runs:
        run_id = r["info"]["run_id"]
        top = get_json(f"{server}/api/2.0/mlflow/artifacts/list?run_id={run_id}")
        assert {f["path"] for f in top["files"]} >= {"metrics.json", "per_class_acc.csv", "figures"}
        figures = get_json(f"{server}/api/2.0/mlflow/artifacts/list?run_id={run_id}&path=figures")
        files = {f["path"]: f for f in figures["files"]}
        assert set(files) == {f"figures/{n}" for n in CELL_FIGURES}
        assert all(int(f["file_size"]) > 1000 for f in files.values())


def render_runs_page(base: str, experiment_id: str, names: set[str], profile: Path, screenshot: Path | None = None,
                     query: str = "") -> str:
    """The runs table of an experiment as headless Chromium renders it (DOM text); asserts every name is shown."""
    # MLflow 3.x opens /#/experiments/<id> on its GenAI overview; the runs table is the /runs tab.
    url = f"{base}/#/experiments/{experiment_id}/runs{query}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
           "--virtual-time-budget=15000", "--window-size=1600,1000"]
    missing, dom = names, ""
    for _ in range(3):  # a loaded machine can leave the JS app mid-render; try again with a fresh profile
        dom = subprocess.run([*cmd, "--dump-dom", url], capture_output=True, text=True, timeout=240).stdout
        missing = {name for name in names if name not in dom}
        if not missing:
            break
        shutil.rmtree(profile, ignore_errors=True)
    assert not missing, f"run names {sorted(missing)} not in the rendered page ({len(dom)} chars):\n{dom[-2000:]}"
    if screenshot is not None:
        subprocess.run([*cmd, f"--screenshot={screenshot}", url], capture_output=True, timeout=240, check=True)
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    return dom


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_ui_experiment_page_shows_the_runs(server, experiment, tmp_path):
    dom = render_runs_page(server, experiment["experiment_id"], expected_run_names(), tmp_path / "chromium-profile")
    assert f"ltgrid-{GRID}" in dom


def visible_text(dom: str) -> str:
    """The page's text as a reader sees it: tags, scripts and styles dropped."""
    import re

    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_the_url_ltgrid_ui_prints_shows_the_headline_figures(server, experiment, runs, tmp_path):
    """The saved headline view (tracking/views.py): the page's text holds each headline metric's
    column and each run's value in it, and the run name column is widened."""
    from ltgrid.tracking.ui import runs_url
    from ltgrid.tracking.views import HEADLINE_METRICS, RUN_NAME_WIDTH

    tags = {t["key"]: t["value"] for t in experiment.get("tags", [])}
    assert "mlflow.sharedViewState.headline" in tags and "Headline figures" in tags["mlflow.note.content"]
    url = runs_url("127.0.0.1", int(server.rsplit(":", 1)[1]), experiment["experiment_id"])
    query = url.split("/runs", 1)[1]
    assert query == "?viewStateShareKey=headline"
    dom = render_runs_page(server, experiment["experiment_id"], expected_run_names(), tmp_path / "profile", query=query)
    text = visible_text(dom)
    for metric in HEADLINE_METRICS:
        assert metric in text, f"no {metric} column in the page's text: {text[:3000]}"
    for r in runs:
        err = {m["key"]: m["value"] for m in r["data"]["metrics"]}["final_top1_err"]
        assert f"{err:.2f}".rstrip("0").rstrip(".") in text or f"{err}" in text, (err, text[:3000])
    assert f"width: {RUN_NAME_WIDTH}px" in dom  # the run name column, widened so names are not cut
