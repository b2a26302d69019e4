"""The one place that talks to MLflow: store creation, one run per cell, resuming it.

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
from typing import Any, Iterable, Iterator

from ltgrid.project import PROJECT_ROOT_ENV, SECRET_WORDS, project_root  # noqa: F401  (callers import them here)

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
def _store_lock(uri: str) -> Iterator[None]:
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
    with _store_lock(uri):
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


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested params -> dotted keys MLflow can hold; values that look like secrets are dropped."""
    out: dict[str, str] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if any(word in str(key).lower() for word in SECRET_WORDS):
            continue
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:6000]
    return out


def extension_tags(cell: dict[str, Any]) -> dict[str, str]:
    """Tags for a sweep variant's swept values (`sweep.mixing.alpha`) and the plugins a cell
    uses, so the UI can filter and group runs by them."""
    tags: dict[str, str] = {}
    sweep = cell.get("sweep")
    if sweep:
        tags["sweep"] = sweep["name"]
        tags["sweep.base"] = sweep["base"]
        tags.update({f"sweep.{key}": str(value) for key, value in sweep["values"].items()})
    if cell.get("plugins"):
        tags["plugins"] = ",".join(cell["plugins"])
    return tags


class CellRun:
    """One MLflow run for one cell, created once and resumed by id (after a kill, or to evaluate)."""

    def __init__(self, uri: str, run_id: str) -> None:
        self.client = client(uri)
        self.uri = uri
        self.run_id = run_id

    @classmethod
    def create(cls, uri: str, experiment_id: str, run_name: str, tags: dict[str, str]) -> "CellRun":
        run = client(uri).create_run(experiment_id, run_name=run_name, tags=tags)
        return cls(uri, run.info.run_id)

    @classmethod
    def for_cell(cls, uri: str, experiment_id: str, run_name: str, tags: dict[str, str]) -> tuple["CellRun", bool]:
        """The cell's run: the newest earlier run of the same cell and recipe (tags `cell` and
        `ltgrid.recipe`) when there is one, else a new run; True when reused.

        A kill after the run was created but before Snakemake saw the job finish (no
        checkpoint left to carry the run id) must not leave the cell twice in the UI.
        """
        mlflow_client = client(uri)
        query = f"tags.cell = '{tags['cell']}' and tags.`{RECIPE_TAG}` = '{tags[RECIPE_TAG]}'"
        earlier = mlflow_client.search_runs([experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1)
        if not earlier:
            return cls.create(uri, experiment_id, run_name, tags), False
        run = cls(uri, earlier[0].info.run_id)
        mlflow_client.update_run(run.run_id, status="RUNNING")
        if "ltgrid.error" in earlier[0].data.tags:  # the earlier failure no longer describes the run
            mlflow_client.delete_tag(run.run_id, "ltgrid.error")
        return run, True

    @property
    def experiment_id(self) -> str:
        return self.client.get_run(self.run_id).info.experiment_id

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(self.run_id).data.params
        items = [Param(k, v) for k, v in flatten(params).items() if k not in existing]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        items = [Metric(k, float(v), ts, step or 0) for k, v in metrics.items() if v is not None]
        for i in range(0, len(items), 500):
            self.client.log_batch(self.run_id, metrics=items[i : i + 500])

    def logged_steps(self, *keys: str) -> set[int]:
        """Steps at which any of `keys` was logged (to log a re-run epoch once only)."""
        return {m.step for key in keys for m in self.client.get_metric_history(self.run_id, key)}

    def log_artifacts(self, paths: Iterable[str | Path], artifact_path: str | None = None) -> None:
        for path in paths:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_split(self, name: str, split_path: str | Path, data_path: str | Path, split: dict[str, Any]) -> None:
        """The training input as an MLflow dataset: the UI's Datasets column names the split file
        and its md5 (the digest `dvc.lock` records for it), so a run says which split trained it."""
        import hashlib
        import json

        from mlflow.entities import Dataset, DatasetInput, InputTag

        digest = hashlib.md5(Path(split_path).read_bytes()).hexdigest()
        source = json.dumps({"split": str(split_path), "data": str(data_path)})
        profile = json.dumps({"train_images": len(split["train_indices"]), "val_images": len(split.get("val_indices", [])),
                              "class_counts": split["counts"]})
        dataset = Dataset(name=name, digest=digest, source_type="local", source=source, profile=profile)
        # MLflow inserts a dataset row after checking it is absent: two cells of one split logging
        # at once both insert and one dies on the UNIQUE constraint. The store lock serialises it.
        with _store_lock(self.uri):
            self.client.log_inputs(self.run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", "train")])])

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)

    def fail(self, message: str) -> None:
        """Mark the run FAILED with the reason as a tag; a rerun that succeeds sets FINISHED."""
        self.set_tags({"ltgrid.error": message[:5000]})
        self.finish("FAILED")


def cell_tags(cell: dict[str, Any], label: str) -> dict[str, str]:
    """What finds a cell's run in the UI and in `tracking.grid` (tag values are strings)."""
    from ltgrid.params import fingerprint

    return {
        "grid": cell["grid"], "dataset": cell["dataset"], "rho": f"{cell['rho']:g}",
        "method": cell["method"], "seed": str(cell["seed"]), "split_seed": str(cell["split_seed"]),
        "cell": label, "git_commit": git_commit(), RECIPE_TAG: fingerprint(cell),
        **extension_tags(cell),
    }


def run_name(cell: dict[str, Any]) -> str:
    """What the runs table shows first, method first: `unimix_bayias digits rho=10 seed=0`
    (the split seed only when it is not 0); the full cell label is the `cell` tag."""
    split = f" split={cell['split_seed']}" if cell["split_seed"] else ""
    return f"{cell['method']} {cell['dataset']} rho={cell['rho']:g} seed={cell['seed']}{split}"


def open_cell_run(
    tracking: dict[str, str], cell: dict[str, Any], label: str, run_id: str | None
) -> tuple[CellRun, bool]:
    """The cell's run and whether it existed: resumed by id after a kill (the checkpoint's),
    else the cell's earlier run of the same recipe (`CellRun.for_cell`), else a new one."""
    uri = recorded_store(tracking)
    if run_id is not None:
        return CellRun(uri, run_id), True
    run, reused = CellRun.for_cell(uri, tracking["experiment_id"], run_name(cell),
                                   cell_tags(cell, label))
    run.log_params(cell)
    return run, reused


def log_evaluation(run_record: dict[str, Any], metrics: dict[str, float], files: Iterable[Path],
                   figures: Iterable[Path]) -> None:
    """An evaluated cell into the run training made (named in run.json): metrics, files, figures/.

    A cell trained elsewhere and pulled with `dvc pull` names a run of another store: it is
    evaluated all the same, and says so instead of logging."""
    import sys

    from mlflow.exceptions import MlflowException

    run = CellRun(recorded_store(run_record, "tracking_uri"), run_record["run_id"])
    try:
        run.client.get_run(run.run_id)
    except MlflowException:
        print(f"note: MLflow run {run.run_id} of this cell is not in {redact(run.uri)} (the cell was trained "
              "elsewhere and pulled); its evaluation is not logged there", file=sys.stderr)
        return
    run.log_metrics(metrics)
    run.log_artifacts(files)
    run.log_artifacts(figures, "figures")
