"""The project's MLflow store: where plain `mlflow ui` looks, with artifacts that survive a move."""

from __future__ import annotations

import shutil
from pathlib import Path

from ltgrid.tracking import store


def test_default_store_is_mlflow_db_in_the_project_root(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(store.PROJECT_ROOT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    # plain `mlflow ui` opens sqlite:///mlflow.db relative to where it starts
    assert store.tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert store.tracking_uri(root=tmp_path / "x") == f"sqlite:///{tmp_path.resolve() / 'x' / 'mlflow.db'}"


def test_artifacts_still_open_after_the_checkout_moves(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    old = tmp_path / "old"
    old.mkdir()
    monkeypatch.chdir(old)
    uri = store.tracking_uri(root=old)
    exp_id = store.ensure_experiment(uri, "ltgrid-g", old)
    assert store.ensure_experiment(uri, "ltgrid-g", old) == exp_id
    client = MlflowClient(tracking_uri=uri)
    assert client.get_experiment(exp_id).artifact_location == "mlartifacts/ltgrid-g"
    run = store.CellRun.create(uri, exp_id, "cell", {})
    (old / "metrics.json").write_text('{"top1_err": 12.5}')
    run.log_artifacts([old / "metrics.json"], "figures")
    assert (old / "mlartifacts" / "ltgrid-g" / run.run_id / "artifacts" / "figures" / "metrics.json").is_file()

    new = tmp_path / "moved"
    shutil.move(old, new)
    monkeypatch.chdir(new)
    moved = MlflowClient(tracking_uri=f"sqlite:///{new / 'mlflow.db'}")
    assert [f.path for f in moved.list_artifacts(run.run_id, "figures")] == ["figures/metrics.json"]
    local = moved.download_artifacts(run.run_id, "figures/metrics.json", str(tmp_path))
    assert Path(local).read_text() == '{"top1_err": 12.5}'


def test_a_store_outside_the_project_keeps_absolute_artifact_paths(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'shared' / 'runs.db'}"
    exp_id = store.ensure_experiment(uri, "ltgrid-g", tmp_path / "project")
    location = MlflowClient(tracking_uri=uri).get_experiment(exp_id).artifact_location
    assert location == (tmp_path / "project" / "mlartifacts" / "ltgrid-g").resolve().as_uri()
