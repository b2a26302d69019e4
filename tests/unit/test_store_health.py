"""The tracking store check run before any job: each damaged or foreign store is named in
one line with the command that recovers, and a healthy one passes (real SQLite stores)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ltgrid.tracking.health import store_problem
from ltgrid.tracking.cell_run import CellRun
from ltgrid.tracking.store import RECIPE_TAG, ensure_experiment


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> tuple[Path, str]:
    """A real MLflow store with experiment `ltgrid-t`; returns its bytes' path and the experiment id."""
    root = tmp_path_factory.mktemp("store")
    db = root / "mlflow.db"
    return db, ensure_experiment(f"sqlite:///{db}", "ltgrid-t", root=root)


def project(tmp_path: Path, healthy, record: bool = True, name: str = "ltgrid-t") -> tuple[str, Path, Path]:
    db = tmp_path / "mlflow.db"
    db.write_bytes(healthy[0].read_bytes())
    uri = f"sqlite:///{db}"
    tracking = tmp_path / "tracking.json"
    if record:
        tracking.write_text(json.dumps({"uri": uri, "experiment": name, "experiment_id": healthy[1]}))
    return uri, db, tracking


def test_a_healthy_store_and_a_new_one_pass(tmp_path, healthy):
    uri, db, tracking = project(tmp_path, healthy)
    assert store_problem(uri, tracking) is None
    assert store_problem(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}", tmp_path / "none.json") is None
    assert store_problem("http://127.0.0.1:5000", tmp_path / "none.json") is None


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda db: db.write_bytes(b""), "is empty (0 bytes)"),
        (lambda db: db.write_bytes(b"not a database at all" * 10), "is not an SQLite database"),
        (lambda db: db.write_bytes(db.read_bytes()[:4096]), "is damaged ("),
    ],
)
def test_a_damaged_store_is_named_with_the_recovery(tmp_path, healthy, damage, expected):
    uri, db, tracking = project(tmp_path, healthy)
    damage(db)
    problem = store_problem(uri, tracking)
    assert problem.startswith(f"tracking store {db} {expected}"), problem
    assert f"`mv {db} {db}.damaged && rm {tracking}`" in problem and "\n" not in problem
    assert "`mv" in store_problem(uri, tmp_path / "none.json")  # before the grid's first run: just move it


def test_an_sqlite_file_that_is_not_mlflow(tmp_path, healthy):
    uri, db, tracking = project(tmp_path, healthy)
    db.unlink()
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE notes (x TEXT)")
    assert "is an SQLite database but not an MLflow store" in store_problem(uri, tracking)


def test_a_foreign_replaced_or_missing_store(tmp_path, healthy):
    uri, db, tracking = project(tmp_path, healthy, name="ltgrid-other")
    problem = store_problem(uri, tracking)
    assert "is not the one" in problem and "'ltgrid-other'" in problem and "experiment 'ltgrid-t' under that id" in problem
    assert f"`rm {tracking}`" in problem
    db.unlink()
    assert f"tracking store {db} does not exist, but {tracking} records experiment" in store_problem(uri, tracking)
    moved = store_problem(f"sqlite:///{tmp_path / 'elsewhere.db'}", tracking)
    assert "the grid's experiment was recorded in sqlite:///" in moved and "MLFLOW_TRACKING_URI" in moved


def test_an_unreadable_record(tmp_path, healthy):
    uri, db, tracking = project(tmp_path, healthy)
    tracking.write_text('{"uri": ')
    assert store_problem(uri, tracking).startswith(f"{tracking} is unreadable (")


def test_a_deleted_experiment(tmp_path, healthy):
    uri, db, tracking = project(tmp_path, healthy)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE experiments SET lifecycle_stage = 'deleted' WHERE experiment_id = ?", (int(healthy[1]),))
    assert "was deleted in MLflow; restore it (`mlflow experiments restore" in store_problem(uri, tracking)


def test_a_cell_keeps_one_run_when_it_trains_again(tmp_path):
    """CellRun.for_cell reuses the cell's earlier run of the same recipe (a kill left no
    checkpoint to carry its id) and starts a new one for another recipe."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp = ensure_experiment(uri, "ltgrid-t", root=tmp_path)
    tags = {"cell": "t/digits/rho10/split0/ce/seed0", RECIPE_TAG: "a" * 16}
    first, reused = CellRun.for_cell(uri, exp, "digits/rho10/split0/ce/seed0", tags)
    assert not reused
    first.fail("killed")
    again, reused = CellRun.for_cell(uri, exp, "digits/rho10/split0/ce/seed0", tags)
    assert reused and again.run_id == first.run_id
    run = again.client.get_run(again.run_id)
    assert run.info.status == "RUNNING" and "ltgrid.error" not in run.data.tags
    other, reused = CellRun.for_cell(uri, exp, "digits/rho10/split0/ce/seed0", {**tags, RECIPE_TAG: "b" * 16})
    assert not reused and other.run_id != first.run_id
