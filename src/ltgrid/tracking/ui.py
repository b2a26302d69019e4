"""`python -m ltgrid ui`: the MLflow UI, announced by the URL of the grid's runs table.

MLflow 3 opens an experiment on its GenAI overview (traces; empty for a grid), so the URL
printed, and opened with `--open`, goes straight to `#/experiments/<id>/runs`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path

from ltgrid.io import read_json
from ltgrid.project import project_root
from ltgrid.tracking.store import recorded_store, redact, tracking_uri
from ltgrid.tracking.views import view_url


def grid_record(grid: str | None, root: str | Path | None = None) -> dict | None:
    """The tracking.json of `grid`; without a name, the only grid run in this project (if one)."""
    runs = project_root(root) / "results" / "runs"
    if grid is not None:
        path = runs / grid / "tracking.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: grid {grid!r} has not run in this project yet")
        return read_json(path)
    found = sorted(runs.glob("*/tracking.json"))
    return read_json(found[0]) if len(found) == 1 else None


def runs_url(host: str, port: int, experiment_id: str | None) -> str:
    """The grid's runs table in its headline view (tracking.views), or the UI's home page."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}/"
    return view_url(base, experiment_id) if experiment_id is not None else base


def _wait_ready(proc: subprocess.Popen, url: str, timeout_s: float = 240) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}health", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    return False


def serve(grid: str | None, uri: str | None, host: str, port: int, open_browser: bool) -> int:
    """Start `mlflow ui` on the grid's store, print the runs-table URL (open it when asked), wait."""
    record = grid_record(grid)
    store = uri or (recorded_store(record) if record else tracking_uri())
    url = runs_url(host, port, (record or {}).get("experiment_id"))
    cmd = ["mlflow", "ui", "--backend-store-uri", store, "--host", host, "--port", str(port)]
    print(f"MLflow UI for {redact(store)}: {url}", flush=True)
    if record is None:
        print("(several or no grids have run here: pass --grid NAME for its runs table)", flush=True)
    # in the project root: the project's artifact locations are relative to it; in its own
    # process group, so stopping it stops its workers too
    proc = subprocess.Popen(cmd, cwd=project_root(), start_new_session=True)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so `finally` stops the UI too
    try:
        if open_browser:
            if _wait_ready(proc, url.split("#", 1)[0]):
                webbrowser.open(url)
            else:
                print(f"the MLflow UI did not answer at {url}; not opening a browser", file=sys.stderr)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
