"""The runs table a user lands on: a saved view of the grid's experiment with the headline figures.

MLflow 3.17's runs table shows a metric column only when the page's state selects it (a fresh
browser selects none), and no server setting changes that default. What the server can hold
is a saved view: an experiment tag `mlflow.sharedViewState.<id>` that the UI lists under
"Views" and opens from `#/experiments/<id>/runs?viewStateShareKey=<id>` (a URL with any other
query parameter skips it). The view selects the headline metrics and widens the run names.
"""

from __future__ import annotations

import json
import time
from typing import Any

VIEW_ID = "headline"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_ID}"
# What a cell's run logs (tracking.grid.flat_metrics), in reading order.
HEADLINE_METRICS = ("final_top1_err", "final_ece", "final_many_acc", "final_medium_acc", "final_few_acc")
RUN_NAME_WIDTH = 320  # px; MLflow's 190 cuts a cell's name


def _column(kind: str, key: str) -> str:
    """A runs-table column id as the UI spells it: kind.`key`."""
    return f"{kind}.`{key}`"


def headline_state() -> dict[str, Any]:
    """The view's page state: headline metrics shown and ordered after a wide run name, best error first."""
    metrics = [_column("metrics", m) for m in HEADLINE_METRICS]
    run_name = _column("attributes", "Run Name")
    return {
        "selectedColumns": metrics,
        "columnOrder": [run_name, *metrics],
        "columnWidths": {run_name: RUN_NAME_WIDTH},
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
    }


def headline_view_tag(now_ms: int | None = None) -> str:
    """The tag's value: the envelope MLflow 3.17 lists under Views ({name, createdAt, state})."""
    created = int(time.time() * 1000) if now_ms is None else now_ms
    return json.dumps({"name": "Headline figures", "createdAt": created, "state": json.dumps(headline_state())})


def set_headline_view(mlflow_client: Any, experiment_id: str) -> None:
    """Save the view on the experiment, and say on its page where it is."""
    mlflow_client.set_experiment_tag(experiment_id, VIEW_TAG, headline_view_tag())
    mlflow_client.set_experiment_tag(
        experiment_id, "mlflow.note.content",
        "Each run is one cell of the grid. Views -> Headline figures shows final top-1 error, ECE and "
        "many/medium/few-shot accuracy per run (`python -m ltgrid ui` opens it).",
    )


def view_url(base: str, experiment_id: str) -> str:
    """`base` (http://host:port/) -> the runs table in the headline view."""
    return f"{base}#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_ID}"
