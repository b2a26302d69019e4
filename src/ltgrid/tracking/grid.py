"""A grid in MLflow: the metric names evaluation logs, the grid spec the tables rule records,
and the query that gives back each cell's latest evaluated run.

Each evaluated run carries its cell in tags (dataset, rho, split_seed, method, seed), its
shot thresholds in params (shots.many, shots.few) and every table metric as
'<protocol>_<metric>'. The grid itself (its method order and cells) is an experiment tag,
so runs of cells since removed from the grid, or superseded by a rerun, stay out: per cell,
the latest finished evaluated run counts.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ltgrid.errors import TrackingError
from ltgrid.evaluate.protocols import PROTOCOLS, SCALAR_KEYS
from ltgrid.tracking.store import client

if TYPE_CHECKING:
    import pandas as pd

SPEC_TAG = "ltgrid.grid_spec"
CELL_TAGS = ["dataset", "rho", "split_seed", "method", "seed"]


def flat_metrics(result: dict[str, Any]) -> dict[str, float]:
    """metrics.json -> MLflow metric names '<protocol>_<metric>', plus '<protocol>_epoch' for the
    best-epoch protocols: everything a table needs, so tables can be rebuilt from the store alone."""
    out = {}
    for protocol, m in result["protocols"].items():
        for key in SCALAR_KEYS:
            if m.get(key) is not None:
                out[f"{protocol}_{key}"] = float(m[key])
        if m.get("epoch") is not None:
            out[f"{protocol}_epoch"] = float(m["epoch"])
    return out


def grid_spec(config: dict[str, Any]) -> dict[str, Any]:
    """The grid in a few hundred characters: method order and, per dataset, the cell axes."""
    from ltgrid import params

    datasets = {
        name: {
            "ratios": [params.format_rho(r) for r in ds["ratios"]],
            "split_seeds": params.split_seeds(config, name),
            "methods": params.dataset_methods(config, name),
        }
        for name, ds in config["datasets"].items()
    }
    return {"grid": config["grid"], "methods": params.method_order(config), "seeds": list(config["seeds"]),
            "datasets": datasets, "compare_to": config.get("compare_to")}


def spec_cells(spec: dict[str, Any]) -> set[tuple[str, str, str, str, str]]:
    """Cell keys as MLflow tags hold them (all strings)."""
    return {
        (name, rho, str(split), method, str(seed))
        for name, ds in spec["datasets"].items()
        for rho in ds["ratios"] for split in ds["split_seeds"] for method in ds["methods"] for seed in spec["seeds"]
    }


def record_grid_spec(uri: str, experiment_id: str, spec: dict[str, Any]) -> None:
    client(uri).set_experiment_tag(experiment_id, SPEC_TAG, json.dumps(spec, sort_keys=True))


def search_grid_runs(uri: str, experiment: str, grid: str) -> tuple["pd.DataFrame", dict[str, Any] | None]:
    """Every run of the grid in the experiment (mlflow.search_runs), and the recorded grid spec if any."""
    import mlflow

    exp = client(uri).get_experiment_by_name(experiment)
    if exp is None:
        raise TrackingError(f"MLflow experiment {experiment!r} not found at {uri}; pass --experiment or --tracking-uri")
    # set_tracking_uri also exports MLFLOW_TRACKING_URI to child processes; put back exactly
    # what the environment held (None unsets both), not MLflow's default store.
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        runs = mlflow.search_runs(
            experiment_ids=[exp.experiment_id], filter_string=f"tags.grid = '{grid}'", output_format="pandas",
        )
    finally:
        mlflow.set_tracking_uri(before)
    spec = json.loads(exp.tags[SPEC_TAG]) if SPEC_TAG in exp.tags else None
    return runs, spec


def latest_per_cell(runs: "pd.DataFrame", spec: dict[str, Any] | None) -> "pd.DataFrame":
    """The newest FINISHED run with final metrics for each cell (of the spec's cells, when known)."""
    needed = [f"tags.{t}" for t in CELL_TAGS] + ["metrics.final_top1_err"]
    missing = [c for c in needed if c not in runs.columns]
    if runs.empty or missing:
        raise TrackingError(f"no evaluated run in the experiment (missing columns {missing}); run the grid first")
    done = runs[(runs["status"] == "FINISHED") & runs["metrics.final_top1_err"].notna()]
    done = done.sort_values("start_time").drop_duplicates([f"tags.{t}" for t in CELL_TAGS], keep="last")
    if spec is None:
        return done
    wanted = spec_cells(spec)
    keys = [tuple(str(v) for v in row) for row in done[[f"tags.{t}" for t in CELL_TAGS]].itertuples(index=False)]
    keep = [k in wanted for k in keys]
    absent = sorted(wanted - set(keys))
    if absent:
        print(f"tables-from-mlflow: {len(absent)} cell(s) of the grid have no evaluated run, e.g. {'/'.join(absent[0])}",
              file=sys.stderr)
    return done[keep]


def run_rows(runs: "pd.DataFrame") -> list[dict[str, Any]]:
    """One row per (run, protocol): the cell from tags, shots from params, metrics by their flat
    names (the inverse of `flat_metrics`): what `report.rows.cell_rows` reads from metrics.json."""
    import pandas as pd

    rows = []
    for _, run in runs.iterrows():
        for protocol in PROTOCOLS:
            if pd.isna(run.get(f"metrics.{protocol}_top1_err")):
                continue
            row = {
                "dataset": run["tags.dataset"], "rho": float(run["tags.rho"]), "split_seed": int(run["tags.split_seed"]),
                "method": run["tags.method"], "seed": int(run["tags.seed"]), "protocol": protocol,
                "shots_many": int(run["params.shots.many"]), "shots_few": int(run["params.shots.few"]),
            }
            for key in list(SCALAR_KEYS) + (["epoch"] if protocol != "final" else []):
                value = run.get(f"metrics.{protocol}_{key}")
                if value is not None and not pd.isna(value):
                    row[key] = float(value)
            rows.append(row)
    return rows


def evaluated_runs(uri: str, experiment: str, grid: str) -> tuple["pd.DataFrame", dict[str, Any] | None]:
    """Each cell's latest evaluated run of the grid, and the recorded spec (None for a grid run
    before specs were recorded)."""
    runs, spec = search_grid_runs(uri, experiment, grid)
    return latest_per_cell(runs, spec), spec
