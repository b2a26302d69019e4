"""The grid as a whole in MLflow: one run per grid holding its tables and overlay figures.

It carries the tag `ltgrid.grid_run` and never the cell tags (`grid`, `dataset`, ...), so every
search for cells (`tags.grid = '<grid>'`, tables rebuilt from MLflow) leaves it out. Each time
the tables change a fresh run replaces the previous one, which is deleted: the live grid run
never shows a table or figure the current params did not make.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ltgrid.tracking.store import client, git_commit

GRID_RUN_TAG = "ltgrid.grid_run"


def summary_metrics(summary: dict[str, dict[str, Any]]) -> dict[str, float]:
    """`results/metrics/<grid>.json` ({'ce': {'digits_rho10': {'top1_err': .., 'ece': ..}}}) as
    MLflow metrics named `digits_rho10/ce/top1_err`."""
    return {
        f"{where}/{method}/{key}": float(value)
        for method, by_where in summary.items() for where, stats in by_where.items() for key, value in stats.items()
    }


def grid_runs(uri: str, experiment_id: str, grid: str) -> list:
    return client(uri).search_runs([experiment_id], filter_string=f"tags.`{GRID_RUN_TAG}` = '{grid}'")


def log_grid_run(
    uri: str, experiment_id: str, grid: str, tables: Iterable[str | Path], figures: Iterable[str | Path],
    summary: dict[str, dict[str, Any]],
) -> str:
    """Create the grid's run with `tables` under tables/, `figures` under figures/ and the summary
    as metrics; delete the grid's earlier runs. Returns the new run's id."""
    from mlflow.entities import Metric

    mlflow_client = client(uri)
    previous = grid_runs(uri, experiment_id, grid)
    tags = {
        GRID_RUN_TAG: grid, "git_commit": git_commit(),
        "mlflow.note.content": f"Tables and reliability overlays of grid {grid!r} (not a cell: no cell tags).",
    }
    run_id = mlflow_client.create_run(experiment_id, run_name=f"{grid}: tables and figures", tags=tags).info.run_id
    try:
        for path in tables:
            mlflow_client.log_artifact(run_id, str(path), "tables")
        for path in figures:
            mlflow_client.log_artifact(run_id, str(path), "figures")
        metrics = [Metric(k, v, 0, 0) for k, v in summary_metrics(summary).items()]
        for i in range(0, len(metrics), 500):
            mlflow_client.log_batch(run_id, metrics=metrics[i : i + 500])
    except Exception:
        mlflow_client.set_terminated(run_id, "FAILED")
        raise
    mlflow_client.set_terminated(run_id, "FINISHED")
    for run in previous:
        mlflow_client.delete_run(run.info.run_id)
    return run_id
