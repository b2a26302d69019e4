"""Where MLflow keeps a grid's runs: the store's URI (credentials kept out of params), its creation
(once, under a lock), the grid's experiment. One run per cell is tracking/cell_run.py.

The SQLite store must exist before parallel jobs start (several processes creating a new
store at once corrupt it), so a single rule calls `ensure_experiment` first.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import urllib.parse
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Iterator

from ltgrid.project import project_root

# The grid's tracking params ({"grid", "tracking"}, JSON), set by the Snakefile for its jobs: where
# a job logs is not a job input, so a new store (a fresh clone that pulled the cells) retrains nothing.
TRACKING_ENV = "LTGRID_TRACKING"
RECIPE_TAG = "ltgrid.recipe"  # the resolved cell's fingerprint (params.fingerprint)
STORE_NAME = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"  # also plain `mlflow server`'s default --artifacts-destination


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """`https://user:pw@host/x` -> (`https://host/x`, user, pw); other URIs come back as they are."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri, None, None
    host = parts.netloc.rsplit("@", 1)[1]
    clean = urllib.parse.urlunsplit(parts._replace(netloc=host))
    return clean, urllib.parse.unquote(parts.username or "") or None, urllib.parse.unquote(parts.password or "") or None


def redact(uri: str) -> str:
    """A URI fit for logs: any `user:password@` becomes `***@` (database URIs included)."""
    parts = urllib.parse.urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def _credentials_to_env() -> None:
    """Credentials in MLFLOW_TRACKING_URI move to MLflow's own variables, so that the URI
    this package writes (tracking.json, run.json) and prints never carries them."""
    _, user, password = split_credentials(os.environ.get("MLFLOW_TRACKING_URI", ""))
    if user:
        os.environ.setdefault("MLFLOW_TRACKING_USERNAME", user)
    if password:
        os.environ.setdefault("MLFLOW_TRACKING_PASSWORD", password)


def tracking_uri(config_uri: str | None = None, root: str | Path | None = None) -> str:
    """MLFLOW_TRACKING_URI wins, then params `tracking.uri`, then the project's SQLite store.
    Credentials in an http(s) URI are moved to MLFLOW_TRACKING_USERNAME/PASSWORD."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        _credentials_to_env()
        return split_credentials(os.environ["MLFLOW_TRACKING_URI"])[0]
    if config_uri:
        return config_uri
    return f"sqlite:///{project_store(root)}"


def project_store(root: str | Path | None = None) -> Path:
    """`<root>/mlflow.db`: the store plain `mlflow ui` / `mlflow server` open when started in the root."""
    return project_root(root) / STORE_NAME


def store_record(uri: str, key: str = "uri", root: str | Path | None = None) -> dict[str, Any]:
    """How tracking.json (`uri`) and run.json (`tracking_uri`) name a store: the URI, and whether
    it is the project's own store, which `recorded_store` then finds wherever the project is now."""
    return {key: uri, "project_store": uri == f"sqlite:///{project_store(root)}"}


def recorded_store(record: dict[str, Any], key: str = "uri", root: str | Path | None = None) -> str:
    """The store a tracking.json or run.json names. The project's own store is looked up in the
    project's current root, so a moved or copied checkout keeps its runs (artifact locations are
    relative to the root too); any other store is the URI recorded."""
    return f"sqlite:///{project_store(root)}" if record.get("project_store") else record[key]


def experiment_name(config: dict[str, Any]) -> str:
    """params `tracking.experiment`, else `ltgrid-<grid>` (config needs only `grid`)."""
    return (config.get("tracking") or {}).get("experiment") or f"ltgrid-{config['grid']}"


def client(uri: str):
    """An MlflowClient on the store (credentials in the URI moved to MLflow's variables first)."""
    from mlflow.tracking import MlflowClient

    _credentials_to_env()

    return MlflowClient(tracking_uri=uri)


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise store creation: concurrent first use of a new SQLite file corrupts it."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = _sqlite_path(uri)
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def ensure_experiment(uri: str, name: str, root: str | Path | None = None) -> str:
    """Create the store (if new) and the experiment; return its id. Run once, before jobs
    (the rule tracking_store); a file lock makes concurrent callers safe all the same."""
    with store_lock(uri):
        return _ensure_experiment(uri, name, root)


def grid_experiment(config: dict[str, Any]) -> dict[str, Any]:
    """The grid's store and experiment ({"grid", "tracking"} params), created when new and given
    the headline view: what tracking.json records and what a train job logs into. Safe to call
    from concurrent jobs (the store lock)."""
    from ltgrid.tracking.views import set_headline_view

    uri = tracking_uri((config.get("tracking") or {}).get("uri"))
    name = experiment_name(config)
    exp_id = ensure_experiment(uri, name)
    set_headline_view(client(uri), exp_id)
    return {**store_record(uri), "experiment": name, "experiment_id": exp_id}


def job_experiment(config_json: str | None = None) -> dict[str, Any]:
    """The experiment a workflow job logs into: grid_experiment of `config_json`, else of the
    tracking params the Snakefile put in LTGRID_TRACKING."""
    import json

    text = config_json or os.environ.get(TRACKING_ENV)
    if not text:
        from ltgrid.errors import UserError

        raise UserError(f"no tracking params: pass --tracking-config or run the job from the workflow (it sets {TRACKING_ENV})")
    return grid_experiment(json.loads(text))


def _ensure_experiment(uri: str, name: str, root: str | Path | None) -> str:
    mlflow_client = client(uri)
    exp = mlflow_client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    if not uri.startswith("sqlite:"):
        return mlflow_client.create_experiment(name)
    root = project_root(root)
    exp_id = mlflow_client.create_experiment(name, artifact_location=(root / ARTIFACT_DIR / name).as_uri())
    if _sqlite_path(uri) == root / STORE_NAME:
        _make_artifacts_relative(root / STORE_NAME, exp_id, f"{ARTIFACT_DIR}/{name}")
    return exp_id


def _sqlite_path(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0]).resolve()


def _make_artifacts_relative(db: Path, experiment_id: str, location: str) -> None:
    """Store the project experiment's artifact location relative to the project root.

    MLflow makes every local location absolute when it creates an experiment, so a moved or
    copied checkout would show runs whose figures point into the old folder. Its runs take
    their artifact URI from the experiment's, and every reader (the jobs, `mlflow ui` started
    in the root, `python -m ltgrid ui`) resolves a relative one against the project root.
    MLflow has no API to change a location, hence one UPDATE on a new, still empty experiment.
    """
    import sqlite3

    with closing(sqlite3.connect(db, timeout=60)) as con, con:
        con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", (location, int(experiment_id)))


def local_store(folder: str | Path, experiment: str) -> dict[str, str]:
    """A fresh SQLite store in `folder` with one experiment: what tracking.json holds, for a
    cell run outside the workflow (tests, benchmarks)."""
    uri = f"sqlite:///{Path(folder).resolve() / STORE_NAME}"
    return {"uri": uri, "experiment": experiment, "experiment_id": ensure_experiment(uri, experiment, root=folder)}


def git_commit(root: str | Path | None = None) -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root or None, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return "unknown"
