"""The one place that talks to MLflow: store creation, one run per cell, resuming it.

The SQLite store must exist before parallel jobs start (several processes creating a new
store at once corrupt it), so a single rule calls `ensure_experiment` first.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Iterable

PROJECT_ROOT_ENV = "LTGRID_PROJECT_ROOT"
SECRET_WORDS = ("password", "token", "secret", "credential", "apikey", "api_key")


def tracking_uri(config_uri: str | None = None, root: str | Path | None = None) -> str:
    """MLFLOW_TRACKING_URI wins, then params `tracking.uri`, then the project's SQLite store."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if config_uri:
        return config_uri
    root = Path(root or os.environ.get(PROJECT_ROOT_ENV) or Path.cwd()).resolve()
    return f"sqlite:///{root / 'results' / 'mlflow.db'}"


def experiment_name(config: dict[str, Any]) -> str:
    return (config.get("tracking") or {}).get("experiment") or f"ltgrid-{config['grid']}"


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def ensure_experiment(uri: str, name: str, root: str | Path | None = None) -> str:
    """Create the store (if new) and the experiment; return its id. Run once, before jobs."""
    client = _client(uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:"):
        root = Path(root or Path.cwd()).resolve()
        artifact_location = (root / "results" / "mlartifacts" / name).as_uri()
    return client.create_experiment(name, artifact_location=artifact_location)


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


class CellRun:
    """One MLflow run for one cell, created once and resumed by id (after a kill, or to evaluate)."""

    def __init__(self, uri: str, run_id: str) -> None:
        self.client = _client(uri)
        self.uri = uri
        self.run_id = run_id

    @classmethod
    def create(cls, uri: str, experiment_id: str, run_name: str, tags: dict[str, str]) -> "CellRun":
        client = _client(uri)
        run = client.create_run(experiment_id, run_name=run_name, tags=tags)
        return cls(uri, run.info.run_id)

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

    def log_artifacts(self, paths: Iterable[str | Path], artifact_path: str | None = None) -> None:
        for path in paths:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)
