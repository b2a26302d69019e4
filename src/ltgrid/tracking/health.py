"""Is the grid's tracking store the one its jobs expect? Checked before any job runs.

A train job that meets an empty, damaged or replaced SQLite store dies deep inside
alembic or MLflow, and several such jobs race to re-create it. The Snakefile calls
`store_problem` first, so the user gets one line naming the store and the fix. Only the
standard library's sqlite3 is used: planning a grid must not wait for `import mlflow`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ltgrid.io import read_json
from ltgrid.tracking.store import recorded_store, redact

SQLITE_MAGIC = b"SQLite format 3\x00"


def sqlite_path(uri: str) -> Path | None:
    """The file behind a `sqlite:///` URI; None for a server or another database."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


def _fresh_start(db: Path, record: Path | None) -> str:
    moved = f"mv {db} {db}.damaged"
    if record is None or not record.exists():
        return f"move it aside (`{moved}`) and rerun"
    return f"move it aside and start a new experiment (`{moved} && rm {record}`), then rerun: cells trained from now on log into it; finished cells keep their results and are not retrained"


def _damage(db: Path) -> str | None:
    """Why `db` is not a readable MLflow SQLite store, or None."""
    size = db.stat().st_size
    if size == 0:
        return "is empty (0 bytes)"
    with open(db, "rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            return "is not an SQLite database"
    try:
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as con:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"alembic_version", "experiments", "runs"} <= tables:
                return "is an SQLite database but not an MLflow store (no alembic_version/experiments/runs tables)"
            con.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error as exc:
        return f"is damaged ({exc})"
    return None


def _experiment(db: Path, experiment_id: str) -> tuple[str, str] | None:
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as con:
        row = con.execute(
            "SELECT name, lifecycle_stage FROM experiments WHERE experiment_id = ?", (int(experiment_id),)
        ).fetchone()
    return None if row is None else (row[0], row[1])


def _recorded(info: dict[str, Any]) -> str | None:
    """The store tracking.json names (the project's own, wherever the project is now)."""
    return recorded_store(info) if "uri" in info or info.get("project_store") else None


def _record_problem(uri: str, db: Path, record: Path, info: dict[str, Any]) -> str | None:
    """Does the store hold the experiment that the grid's tracking.json names?"""
    start_over = f"or `rm {record}` to start a new experiment there (finished cells keep their results; cells trained from now on log into it)"
    if _recorded(info) != uri:
        return (
            f"tracking store {redact(uri)}: the grid's experiment was recorded in {redact(str(info.get('uri')))} "
            f"({record}); point MLFLOW_TRACKING_URI / tracking.uri back at it, {start_over}"
        )
    name, exp_id = info.get("experiment"), str(info.get("experiment_id"))
    if not db.exists():
        return f"tracking store {db} does not exist, but {record} records experiment {name!r} (id {exp_id}) in it; restore it, {start_over}"
    found = _experiment(db, exp_id)
    if found is None or found[0] != name:
        holds = "no such experiment" if found is None else f"experiment {found[0]!r} under that id"
        return (
            f"tracking store {db} is not the one {record} was made with: it should hold experiment {name!r} "
            f"(id {exp_id}) but has {holds}; restore the original store, {start_over}"
        )
    if found[1] != "active":
        return (
            f"tracking store {db}: experiment {name!r} (id {exp_id}) was deleted in MLflow; restore it "
            f"(`mlflow experiments restore --experiment-id {exp_id}` with MLFLOW_TRACKING_URI=sqlite:///{db}), {start_over}"
        )
    return None


def store_problem(uri: str, record: str | Path | None = None) -> str | None:
    """One line naming what is wrong with the store (and what to run), or None when it is usable.

    `record` is the grid's tracking.json: once it exists, the store must hold the experiment
    it names, or jobs would log into an experiment that no longer exists.
    """
    db = sqlite_path(uri)
    record = Path(record) if record is not None else None
    try:
        info = read_json(record) if record is not None and record.exists() else None
    except (OSError, ValueError) as exc:
        return f"{record} is unreadable ({exc}): `rm {record}` and rerun (a new experiment; finished cells are not retrained)"
    if db is None:
        if info is not None and _recorded(info) != uri:
            return _record_problem(uri, Path(), record, info)
        return None
    if db.exists():
        damage = _damage(db)
        if damage is not None:
            return f"tracking store {db} {damage}: {_fresh_start(db, record)}"
    if info is None:
        return None
    return _record_problem(uri, db, record, info)
