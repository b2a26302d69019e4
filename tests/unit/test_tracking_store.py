"""The project's MLflow store: where plain `mlflow ui` looks, with artifacts that survive a move."""

from __future__ import annotations

import shutil
from pathlib import Path

from ltgrid.project import PROJECT_ROOT_ENV
from ltgrid.tracking import store
from ltgrid.tracking.cell_run import CellRun


def test_default_store_is_mlflow_db_in_the_project_root(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(PROJECT_ROOT_ENV, raising=False)
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
    run = CellRun.create(uri, exp_id, "cell", {})
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


def test_cell_run_records_its_split_as_an_mlflow_dataset(tmp_path):
    import hashlib
    import json

    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id = store.ensure_experiment(uri, "ltgrid-g", tmp_path)
    split_file = tmp_path / "rho10_split0.json"
    split = {"counts": [3, 1], "train_indices": [0, 1, 2, 5], "val_indices": [7]}
    split_file.write_text(json.dumps(split))
    run = CellRun.create(uri, exp_id, "cell", {"grid": "g"})
    run.log_split("digits/rho10_split0", split_file, tmp_path / "dataset.npz", split)
    inputs = MlflowClient(tracking_uri=uri).get_run(run.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    dataset = inputs[0].dataset
    assert dataset.name == "digits/rho10_split0"
    assert dataset.digest == hashlib.md5(split_file.read_bytes()).hexdigest()  # what dvc.lock records
    assert json.loads(dataset.source) == {"split": str(split_file), "data": str(tmp_path / "dataset.npz")}
    assert json.loads(dataset.profile) == {"train_images": 4, "val_images": 1, "class_counts": [3, 1]}
    assert {t.key: t.value for t in inputs[0].tags} == {"mlflow.data.context": "train"}


def test_grid_run_holds_the_tables_and_never_counts_as_a_cell(tmp_path):
    from mlflow.tracking import MlflowClient

    from ltgrid.tracking.grid import search_grid_runs
    from ltgrid.tracking.grid_run import grid_runs, log_grid_run, summary_metrics

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id = store.ensure_experiment(uri, "ltgrid-g", tmp_path)
    CellRun.create(uri, exp_id, "digits/rho10/split0/ce/seed0", {"grid": "g", "method": "ce"}).finish()
    table, figure = tmp_path / "top1_err_final.md", tmp_path / "reliability_digits_rho10.png"
    table.write_text("| method | digits rho=10 |\n")
    figure.write_bytes(b"\x89PNG fake")
    summary = {"ce": {"digits_rho10": {"top1_err": 12.5, "ece": 3.25}}}
    assert summary_metrics(summary) == {"digits_rho10/ce/top1_err": 12.5, "digits_rho10/ce/ece": 3.25}
    first = log_grid_run(uri, exp_id, "g", [table], [figure], summary)
    table.write_text("| method | digits rho=10 |\n| ce | 11.00 |\n")
    second = log_grid_run(uri, exp_id, "g", [table], [figure], summary)

    client = MlflowClient(tracking_uri=uri)
    assert [r.info.run_id for r in grid_runs(uri, exp_id, "g")] == [second]  # the earlier one is deleted
    assert client.get_run(first).info.lifecycle_stage == "deleted"
    live = client.get_run(second)
    assert live.info.status == "FINISHED" and live.data.metrics["digits_rho10/ce/top1_err"] == 12.5
    assert {a.path for a in client.list_artifacts(second, "tables")} == {"tables/top1_err_final.md"}
    assert {a.path for a in client.list_artifacts(second, "figures")} == {"figures/reliability_digits_rho10.png"}
    local = client.download_artifacts(second, "tables/top1_err_final.md", str(tmp_path / "dl"))
    assert "11.00" in Path(local).read_text()
    cells, _ = search_grid_runs(uri, "ltgrid-g", "g")
    assert list(cells["tags.method"]) == ["ce"]  # the grid run has no cell tags


def test_the_project_store_is_recorded_as_such_and_found_where_the_project_is_now(tmp_path, monkeypatch):
    monkeypatch.delenv(PROJECT_ROOT_ENV, raising=False)
    old, new = tmp_path / "old", tmp_path / "new"
    record = store.store_record(f"sqlite:///{old.resolve() / 'mlflow.db'}", root=old)
    assert record == {"uri": f"sqlite:///{old.resolve() / 'mlflow.db'}", "project_store": True}
    assert store.recorded_store(record, root=new) == f"sqlite:///{new.resolve() / 'mlflow.db'}"
    run_json = store.store_record(f"sqlite:///{old.resolve() / 'mlflow.db'}", "tracking_uri", root=old)
    assert store.recorded_store(run_json, "tracking_uri", root=new) == f"sqlite:///{new.resolve() / 'mlflow.db'}"


def test_any_other_store_is_the_uri_recorded(tmp_path):
    for uri in (f"sqlite:///{tmp_path / 'elsewhere.db'}", "http://127.0.0.1:5000"):
        record = store.store_record(uri, root=tmp_path)
        assert record["project_store"] is False
        assert store.recorded_store(record, root=tmp_path / "moved") == uri
