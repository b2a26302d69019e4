"""One MLflow run per cell: created once with the cell's params and tags, resumed by id after a
kill (or to log its evaluation), found again for a rerun of the same recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ltgrid.cell_spec import fingerprint
from ltgrid.project import SECRET_WORDS
from ltgrid.tracking.store import RECIPE_TAG, client, git_commit, recorded_store, redact, store_lock


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
        # at once both insert and one fails on the UNIQUE constraint. The store lock serialises
        # that on a shared SQLite file; a tracking server (no lock reaches it) is asked again, and
        # the second time finds the row the other cell made.
        from mlflow.exceptions import MlflowException

        inputs = [DatasetInput(dataset, [InputTag("mlflow.data.context", "train")])]
        for attempt in range(3):
            try:
                with store_lock(self.uri):
                    self.client.log_inputs(self.run_id, inputs)
                return
            except MlflowException as exc:
                if "UNIQUE constraint failed: datasets" not in str(exc) or attempt == 2:
                    raise

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
