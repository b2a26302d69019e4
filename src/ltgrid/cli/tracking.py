"""Reading the MLflow store back: tables from its runs alone, the UI."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ltgrid.cli.reports import published_figures
from ltgrid.evaluate.protocols import PROTOCOLS  # plain data: no numpy, no torch


def _tables_from_mlflow(args: argparse.Namespace) -> int:
    from ltgrid.report import from_mlflow as mt
    from ltgrid.report.compare import write_comparisons
    from ltgrid.report.outputs import references
    from ltgrid.report.tables import write_tables
    from ltgrid.tracking.grid import evaluated_runs
    from ltgrid.tracking.store import experiment_name, redact, tracking_uri

    uri = args.tracking_uri or tracking_uri()
    experiment = args.experiment or experiment_name({"grid": args.grid})
    runs, spec = evaluated_runs(uri, experiment, args.grid)
    df = mt.rows_from_runs(runs)
    methods = mt.method_order(spec, args.methods.split(",") if args.methods else None, runs)
    files = write_tables(df, args.out_dir, methods, args.grid, None, published_figures(args))
    protocols = [p for p in PROTOCOLS if p in set(df["protocol"])]
    refs = references(methods, (spec or {}).get("compare_to"))
    files += write_comparisons(df, args.out_dir, refs, protocols, methods, args.grid)
    print(f"{len(runs)} runs of {experiment!r} at {redact(uri)} -> {len(files)} table files in {args.out_dir}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    from ltgrid.tracking.ui import serve

    return serve(args.grid, args.uri, args.host, args.port, args.open)


def commands(sub: Any) -> None:
    """Reading the MLflow store back."""
    s = sub.add_parser("tables-from-mlflow", help="rebuild a grid's tables from its MLflow runs alone")
    s.add_argument("--grid", required=True)
    s.add_argument("--tracking-uri", default=None, help="default: MLFLOW_TRACKING_URI, else mlflow.db in the project root")
    s.add_argument("--experiment", default=None, help="default: ltgrid-<grid>")
    s.add_argument("--out-dir", required=True)
    s.add_argument("--methods", default=None, help="comma-separated row order; default: the grid's, as recorded")
    s.add_argument("--published", default="params/published.yaml" if Path("params/published.yaml").exists() else None)
    s.set_defaults(func=_tables_from_mlflow)

    s = sub.add_parser("ui", help="browse the runs in the MLflow UI (bound to 127.0.0.1 unless --host)")
    s.add_argument("--uri", default=None, help="default: the store the grid's tracking.json records")
    s.add_argument("--grid", default=None, help="whose runs table to print (default: the only grid run here)")
    s.add_argument("--open", action="store_true", help="open the runs table in a browser once the UI answers")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5000)
    s.set_defaults(func=_ui)
