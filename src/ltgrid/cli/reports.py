"""A grid's tables, figures, comparisons, ablations and its own MLflow run."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ltgrid.evaluate.protocols import PROTOCOLS  # plain data: no numpy, no torch


def published_figures(args: argparse.Namespace):
    from ltgrid.params import published

    if not args.published:
        return published.EMPTY
    library = args.method_library.split(",") if getattr(args, "method_library", None) else None
    return published.load(args.published, library)


def _report(args: argparse.Namespace) -> int:
    from ltgrid.io import write_json
    from ltgrid.report.freshness import check_fresh
    from ltgrid.report.rows import cell_rows
    from ltgrid.report.tables import summary, write_tables

    if args.recipes:
        check_fresh(args.metrics, args.recipes.split(","))
    df = cell_rows(args.metrics)
    files = write_tables(
        df, args.out_dir, args.methods.split(","), args.grid, args.protocols.split(",") if args.protocols else None,
        published_figures(args),
    )
    write_json(args.summary, summary(df, args.methods.split(",")))
    if args.grid_spec:
        from ltgrid.tracking.grid import record_grid_spec
        from ltgrid.tracking.store import job_experiment, recorded_store

        info = job_experiment()
        record_grid_spec(recorded_store(info), info["experiment_id"], json.loads(args.grid_spec))
    print(f"{len(files)} table files in {args.out_dir}")
    return 0


def _job_costs(args: argparse.Namespace) -> int:
    from ltgrid.report.job_costs import write_job_costs

    rows = write_job_costs(args.benchmarks, args.csv, args.md)
    print(f"{len(rows)} jobs -> {args.csv}, {args.md}")
    return 0


def _overlay(args: argparse.Namespace) -> int:
    from ltgrid.report.overlays import write_overlay

    write_overlay(args.metrics, args.out, args.methods.split(","), args.title, args.protocol)
    return 0


def _test_agnostic_figure(args: argparse.Namespace) -> int:
    from ltgrid.report.overlays import write_agnostic_figure

    write_agnostic_figure(args.metrics, args.out, args.methods.split(","), args.title)
    return 0


def _log_grid(args: argparse.Namespace) -> int:
    from ltgrid.io import read_json, write_json
    from ltgrid.tracking.grid_run import log_grid_run
    from ltgrid.tracking.store import job_experiment, recorded_store, store_record

    info = job_experiment()
    uri = recorded_store(info)
    run_id = log_grid_run(uri, info["experiment_id"], args.grid, args.tables, args.figures, read_json(args.summary))
    write_json(args.out, {"run_id": run_id, "experiment_id": info["experiment_id"], **store_record(uri, "tracking_uri")})
    print(f"grid run {run_id}: {len(args.tables)} tables, {len(args.figures)} figures")
    return 0


def _ablation(args: argparse.Namespace) -> int:
    from ltgrid.report.ablation import write_ablation_figure, write_ablation_table

    if args.figure:
        print(write_ablation_figure(args.metrics, args.sweep, args.grid, args.figure, args.protocol))
    else:
        print(f"{len(write_ablation_table(args.metrics, args.sweep, args.grid, args.out_dir, args.protocol))} files in {args.out_dir}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from ltgrid.report.compare import write_comparisons
    from ltgrid.report.render import FORMATS
    from ltgrid.report.rows import cell_rows

    files = write_comparisons(
        cell_rows(args.metrics), args.out_dir, args.references.split(","), args.protocols.split(","),
        args.methods.split(","), args.grid,
    )
    print(f"{len(files) // len(FORMATS)} comparison tables in {args.out_dir}")


def _figure_parser(sub: Any, name: str, help_text: str) -> Any:
    """A (dataset, rho) figure command: one output, a title, the legend order and its cells' metrics."""
    s = sub.add_parser(name, help=help_text)
    s.add_argument("--out", required=True)
    s.add_argument("--title", required=True)
    s.add_argument("--methods", required=True, help="comma-separated legend order")
    s.add_argument("metrics", nargs="+")
    return s


def commands(sub: Any) -> None:
    """A grid's tables and figures."""
    s = sub.add_parser("report", help="tables for a grid from its cells' metrics.json")
    s.add_argument("--grid", required=True)
    s.add_argument("--methods", required=True, help="comma-separated row order")
    s.add_argument("--protocols", default=None, help="comma-separated; default: those the cells have")
    s.add_argument("--out-dir", required=True)
    s.add_argument("--summary", required=True, help="JSON of mean final metrics per cell (DVC metrics)")
    s.add_argument("--published", default=None, help="published figures YAML (params/published.yaml)")
    s.add_argument("--method-library", default=None, help="comma-separated method names published figures may use")
    s.add_argument("--grid-spec", default=None,
                   help="JSON of the grid's methods and cells, recorded on the grid's experiment ($LTGRID_TRACKING) for tables-from-mlflow")
    s.add_argument("--recipes", default=None, help="comma-separated recipe fingerprints, one per metrics file: refuse stale cells")
    s.add_argument("metrics", nargs="+")
    s.set_defaults(func=_report)

    s = _figure_parser(sub, "overlay", "reliability curves of the methods for one (dataset, rho), seeds pooled")
    s.add_argument("--protocol", default="final", choices=list(PROTOCOLS))
    s.set_defaults(func=_overlay)

    s = _figure_parser(sub, "test-agnostic-figure", "error vs test imbalance for one (dataset, rho), a line per method")
    s.set_defaults(func=_test_agnostic_figure)

    s = sub.add_parser("log-grid", help="the grid's own MLflow run: its tables and overlay figures (not a cell)")
    s.add_argument("--grid", required=True)
    s.add_argument("--summary", required=True, help="the grid's DVC metrics file, logged as metrics")
    s.add_argument("--tables", nargs="+", required=True)
    s.add_argument("--figures", nargs="*", default=[])
    s.add_argument("--out", required=True, help="JSON naming the run")
    s.set_defaults(func=_log_grid)

    s = sub.add_parser("job-costs", help="wall time and peak memory per cell and job, from Snakemake benchmark files")
    s.add_argument("--csv", required=True)
    s.add_argument("--md", required=True)
    s.add_argument("benchmarks", nargs="+")
    s.set_defaults(func=_job_costs)


def add_analysis_commands(sub: argparse._SubParsersAction) -> None:
    """The ablation report of a sweep and the comparison tables (workflow/rules/analysis.smk)."""
    s = sub.add_parser("ablation", help="a sweep's table (--out-dir) or one (dataset, rho)'s figure (--figure)")
    s.add_argument("--grid", required=True)
    s.add_argument("--sweep", required=True)
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--out-dir", default=None, help="write ablation_<sweep>.{md,csv,tex,html} here")
    where.add_argument("--figure", default=None, help="write the figure of the given cells (one dataset and rho) here")
    s.add_argument("--protocol", default="final", choices=list(PROTOCOLS))
    s.add_argument("metrics", nargs="+")
    s.set_defaults(func=_ablation)

    s = sub.add_parser("compare", help="every method minus a reference: mean paired difference and 95%% interval")
    s.add_argument("--grid", required=True)
    s.add_argument("--references", required=True, help="comma-separated reference methods")
    s.add_argument("--methods", required=True, help="comma-separated row order")
    s.add_argument("--protocols", required=True, help="comma-separated")
    s.add_argument("--out-dir", required=True)
    s.add_argument("metrics", nargs="+")
    s.set_defaults(func=_compare)
