"""Many processes, one MLflow store: nothing lost, nothing corrupted.

Eight writer processes (as eight cells of a grid would) log metrics and an artifact into one
SQLite store at the same moment; every run, metric step and artifact must be there after.
Six processes creating a NEW store at once corrupted it (design notes); `ensure_experiment`
now takes a file lock, and four processes racing to create one all get the same experiment.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.pipeline
WRITERS = 8
STEPS = 25
KEYS = ("train_loss", "train_acc", "test_acc", "lr")

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ltgrid.tracking.cell_run import CellRun

    uri, exp_id, index, go, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5])
    while not go.exists():
        time.sleep(0.01)
    run = CellRun.create(uri, exp_id, run_name=f"cell{index}", tags={"cell": f"cell{index}"})
    run.log_params({"index": index, "recipe": {"lr": 0.1, "api_token": "hunter2"}})
    for step in range(steps):
        run.log_metrics({k: index + step / 100 for k in %r}, step=step)
    artifact = go.parent / f"metrics{index}.json"
    artifact.write_text('{"index": %%d}' %% index)
    run.log_artifacts([artifact])
    run.finish()
    print(run.run_id)
    """
    % (KEYS,)
)

CREATOR = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ltgrid.tracking.store import ensure_experiment

    uri, root, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.01)
    print(ensure_experiment(uri, "fresh", root))
    """
)


def start_together(script: str, argv: list[list[str]], go: Path, timeout: int = 240) -> list[str]:
    """Start one process per argument list, release them at once, return each one's stdout."""
    procs = [
        subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for args in argv
    ]
    time.sleep(3)  # let every interpreter import mlflow before the gate opens
    go.touch()
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-3000:]
        outs.append(out.strip())
    return outs


def test_eight_writers_lose_nothing(tmp_path):
    from mlflow.tracking import MlflowClient

    from ltgrid.tracking.store import ensure_experiment

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id = ensure_experiment(uri, "busy", tmp_path)  # the tracking_store rule's job, before any cell
    go = tmp_path / "go"
    run_ids = start_together(WRITER, [[uri, exp_id, str(i), str(go), str(STEPS)] for i in range(WRITERS)], go)

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([exp_id], max_results=100)
    assert sorted(r.info.run_id for r in runs) == sorted(run_ids) and len(set(run_ids)) == WRITERS
    for r in runs:
        index = int(r.data.tags["cell"].removeprefix("cell"))
        assert r.info.status == "FINISHED"
        assert r.data.params["recipe.lr"] == "0.1" and "recipe.api_token" not in r.data.params
        for key in KEYS:
            history = client.get_metric_history(r.info.run_id, key)
            assert sorted((m.step, m.value) for m in history) == [(s, index + s / 100) for s in range(STEPS)]
        artifacts = [a.path for a in client.list_artifacts(r.info.run_id)]
        assert artifacts == [f"metrics{index}.json"]
        local = Path(client.download_artifacts(r.info.run_id, f"metrics{index}.json", str(tmp_path / f"dl{index}")))
        assert local.read_text() == f'{{"index": {index}}}'


def test_concurrent_creation_of_a_new_store_is_serialised(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    go = tmp_path / "go"
    ids = start_together(CREATOR, [[uri, str(tmp_path), str(go)] for _ in range(4)], go)
    assert len(set(ids)) == 1, ids
    client = MlflowClient(tracking_uri=uri)
    assert [e.name for e in client.search_experiments() if e.name == "fresh"] == ["fresh"]
    run = client.create_run(ids[0])  # the store is fully migrated and usable
    client.log_metric(run.info.run_id, "x", 1.0)
    assert client.get_run(run.info.run_id).data.metrics == {"x": 1.0}


SPLIT_LOGGER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ltgrid.tracking.cell_run import CellRun

    uri, exp_id, index, go, split_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
    run = CellRun.create(uri, exp_id, run_name=f"cell{index}", tags={"cell": f"cell{index}"})
    while not go.exists():
        time.sleep(0.005)
    run.log_split("digits/rho50_split0", split_path, "dataset.npz", {"train_indices": [0, 1], "counts": [1, 1]})
    run.finish()
    print(run.run_id)
    """
)


def test_cells_of_one_split_log_it_at_once_through_a_tracking_server(tmp_path):
    """The SLURM team set-up: cells of one split start together and log it as an MLflow dataset on
    a shared `mlflow server`, where no file lock reaches. The server inserts the dataset row after
    checking it is absent, so concurrent cells raced on its UNIQUE constraint and one died (seen once
    in test_slurm); every cell must end with the split among its inputs. The race window is narrow:
    this test passed twice without the retry, so it guards the path, it does not force the race."""
    from mlflow.tracking import MlflowClient
    from pipeline.test_mlflow_ui import free_port, mlflow_server

    split = tmp_path / "rho50_split0.json"
    split.write_text('{"train_indices": [0, 1]}')
    cmd = ["mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--host", "127.0.0.1",
           "--port", str(free_port()), "--workers", "4"]
    with mlflow_server(cmd, tmp_path, tmp_path / "server.log") as uri:
        exp_id = MlflowClient(tracking_uri=uri).create_experiment("split-race")
        go = tmp_path / "go"
        outs = start_together(SPLIT_LOGGER, [[uri, exp_id, str(i), str(go), str(split)] for i in range(WRITERS)], go)
        run_ids = [out.splitlines()[-1] for out in outs]  # after MLflow's own "View run" lines
        client = MlflowClient(tracking_uri=uri)
        for run_id in run_ids:
            inputs = client.get_run(run_id).inputs.dataset_inputs
            assert [d.dataset.name for d in inputs] == ["digits/rho50_split0"]
