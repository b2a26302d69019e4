"""`python -m ltgrid <command>`: the entry points the workflow rules call.

Imports are lazy so `train` can take its GPU lease and set CUDA_VISIBLE_DEVICES before
torch is loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ltgrid.evaluate.protocols import PROTOCOLS  # plain data: no numpy, no torch


def _validate(args: argparse.Namespace) -> int:
    from ltgrid import params

    for path in args.params:
        config = params.load(path, args.schema or params.DEFAULT_SCHEMA, check_files=not args.skip_files)
        print(f"{path}: valid; {len(params.cells(config))} cells")
    return 0


def _load_plugins(modules: list[str] | str | None) -> None:
    """Import the plugin modules a job's parts come from (a comma-separated string or a list)."""
    from ltgrid.params import plugins

    if isinstance(modules, str):
        modules = [m for m in modules.split(",") if m]
    plugins.load(modules or [])


def _prepare(args: argparse.Namespace) -> int:
    from ltgrid.data import prepare_dataset

    _load_plugins(args.plugins)

    ds = prepare_dataset(json.loads(args.source), args.out)
    print(f"{args.out}: {len(ds.train_y)} train / {len(ds.test_y)} test images, {ds.num_classes} classes")
    return 0


def _split(args: argparse.Namespace) -> int:
    from ltgrid.data.splits import split_dataset

    split = split_dataset(args.data, args.dataset, args.rho, args.seed, json.loads(args.options), args.out)
    print(f"{args.out}: {len(split['train_indices'])} train, {len(split['val_indices'])} val; counts {split['counts']}")
    return 0


def _init_tracking(args: argparse.Namespace) -> int:
    from ltgrid.tracking.store import grid_experiment
    from ltgrid.io import write_json

    record = grid_experiment(json.loads(args.config))
    write_json(args.out, record)
    print(f"MLflow experiment {record['experiment']!r} (id {record['experiment_id']}) at {record['uri']}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from ltgrid.train.gpu_lease import gpu_lease
    from ltgrid.io import read_json

    from ltgrid.tracking.store import job_experiment

    from ltgrid.evaluate.cell import clear_evaluation

    cell = json.loads(args.cell)
    tracking_info = job_experiment(args.tracking_config)
    clear_evaluation(args.out_dir)
    with gpu_lease() as gpu:
        if gpu is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        from ltgrid.train.trainer import TrainingError, train_cell

        _load_plugins(cell.get("plugins"))

        try:
            train_cell(
                cell, args.data, args.split, args.out_dir, tracking_info,
                threads=args.threads, stage1_model=args.stage1_model,
            )
        except TrainingError as exc:
            report_error(str(exc))
            return 1
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ltgrid.evaluate.cell import PER_CLASS_CSV, evaluate_cell, read_run, write_cell_figures
    from ltgrid.tracking.grid import flat_metrics
    from ltgrid.tracking.store import log_evaluation

    cell_dir = Path(args.cell_dir)
    run = read_run(cell_dir)
    result = evaluate_cell(cell_dir, run)
    figures = write_cell_figures(cell_dir, result, run)
    log_evaluation(run, flat_metrics(result), [cell_dir / "metrics.json", cell_dir / PER_CLASS_CSV], figures)
    final = result["protocols"]["final"]
    print(f"{result['label']}: top-1 error {final['top1_err']:.2f}%, ECE {final['ece']:.2f}%")
    return 0


def _published(args: argparse.Namespace):
    from ltgrid.report import published

    if not args.published:
        return published.EMPTY
    library = args.method_library.split(",") if getattr(args, "method_library", None) else None
    return published.load(args.published, library)


def _report(args: argparse.Namespace) -> int:
    from ltgrid.io import write_json
    from ltgrid.report.freshness import check_fresh
    from ltgrid.report.tables import cell_rows, summary, write_tables

    if args.recipes:
        check_fresh(args.metrics, args.recipes.split(","))
    df = cell_rows(args.metrics)
    files = write_tables(
        df, args.out_dir, args.methods.split(","), args.grid, args.protocols.split(",") if args.protocols else None,
        _published(args),
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
    from ltgrid.report.tables import cell_rows

    files = write_comparisons(
        cell_rows(args.metrics), args.out_dir, args.references.split(","), args.protocols.split(","),
        args.methods.split(","), args.grid,
    )
    print(f"{len(files) // len(FORMATS)} comparison tables in {args.out_dir}")


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


def _overlay(args: argparse.Namespace) -> int:
    from ltgrid.report.overlays import write_overlay

    write_overlay(args.metrics, args.out, args.methods.split(","), args.title, args.protocol)
    return 0


def _test_agnostic_figure(args: argparse.Namespace) -> int:
    from ltgrid.report.overlays import write_agnostic_figure

    write_agnostic_figure(args.metrics, args.out, args.methods.split(","), args.title)
    return 0


def _tables_from_mlflow(args: argparse.Namespace) -> int:
    from ltgrid.report import from_mlflow as mt
    from ltgrid.report.compare import references, write_comparisons
    from ltgrid.report.tables import write_tables
    from ltgrid.tracking.grid import evaluated_runs
    from ltgrid.tracking.store import experiment_name, redact, tracking_uri

    uri = args.tracking_uri or tracking_uri()
    experiment = args.experiment or experiment_name({"grid": args.grid})
    runs, spec = evaluated_runs(uri, experiment, args.grid)
    df = mt.rows_from_runs(runs)
    methods = mt.method_order(spec, args.methods.split(",") if args.methods else None, runs)
    files = write_tables(df, args.out_dir, methods, args.grid, None, _published(args))
    protocols = [p for p in PROTOCOLS if p in set(df["protocol"])]
    refs = references(methods, (spec or {}).get("compare_to"))
    files += write_comparisons(df, args.out_dir, refs, protocols, methods, args.grid)
    print(f"{len(runs)} runs of {experiment!r} at {redact(uri)} -> {len(files)} table files in {args.out_dir}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    from ltgrid.tracking.ui import serve

    return serve(args.grid, args.uri, args.host, args.port, args.open)


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


def _data_commands(sub: Any) -> None:
    """Params and data: validate, prepare, split."""
    s = sub.add_parser("validate", help="check params files against the schema and the registries")
    s.add_argument("params", nargs="+")
    s.add_argument("--schema", default=None, help="default: the project's workflow/schemas/params.schema.yaml")
    s.add_argument("--skip-files", action="store_true",
                   help="do not look for the local files the sources name (a grid to run elsewhere)")
    s.set_defaults(func=_validate)

    s = sub.add_parser("prepare", help="build a dataset's dataset.npz from its source params")
    s.add_argument("--source", required=True, help="the dataset's `source` params as JSON")
    s.add_argument("--plugins", default="", help="comma-separated plugin modules to import first (a plugin's source kind)")
    s.add_argument("--out", required=True)
    s.set_defaults(func=_prepare)

    s = sub.add_parser("split", help="write a long-tailed split index file")
    s.add_argument("--data", required=True)
    s.add_argument("--dataset", required=True)
    s.add_argument("--rho", type=float, required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--options", required=True,
                   help="JSON of params.split_options: n_max, val_per_class, test_holdout_per_class, mode (profile | given)")
    s.add_argument("--out", required=True)
    s.set_defaults(func=_split)


def _cell_commands(sub: Any) -> None:
    """One cell: the tracking store, train, evaluate."""
    s = sub.add_parser("init-tracking", help="create the MLflow store and the grid's experiment (once, before jobs)")
    s.add_argument("--config", required=True, help="JSON with the grid name and its `tracking` params")
    s.add_argument("--out", required=True)
    s.set_defaults(func=_init_tracking)

    s = sub.add_parser("train", help="train one cell")
    s.add_argument("--cell", required=True, help="the resolved cell as JSON")
    s.add_argument("--data", required=True)
    s.add_argument("--split", required=True)
    s.add_argument("--tracking-config", default=None,
                   help="JSON with the grid name and its `tracking` params (default: $LTGRID_TRACKING, set by the workflow)")
    s.add_argument("--out-dir", required=True)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--stage1-model", default=None, help="model.pt of the base cell (stage-2 methods)")
    s.set_defaults(func=_train)

    s = sub.add_parser("evaluate", help="metrics.json for one trained cell, logged to its MLflow run")
    s.add_argument("--cell-dir", required=True)
    s.set_defaults(func=_evaluate)


def _figure_parser(sub: Any, name: str, help_text: str) -> Any:
    """A (dataset, rho) figure command: one output, a title, the legend order and its cells' metrics."""
    s = sub.add_parser(name, help=help_text)
    s.add_argument("--out", required=True)
    s.add_argument("--title", required=True)
    s.add_argument("--methods", required=True, help="comma-separated legend order")
    s.add_argument("metrics", nargs="+")
    return s


def _report_commands(sub: Any) -> None:
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


def _tracking_commands(sub: Any) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ltgrid", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    _data_commands(sub)
    _cell_commands(sub)
    _report_commands(sub)
    add_analysis_commands(sub)
    _tracking_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user's mistake (the project's own errors, a missing input file) is one
    line and exit 2, anything else is a bug and keeps its traceback."""
    args = build_parser().parse_args(argv)
    from ltgrid.errors import UserError

    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError) as exc:
        report_error(str(exc))
        return 2


def _stderr_to_a_file() -> bool:
    """Whether stderr is redirected to a regular file that stdout does not also write to."""
    import stat

    try:
        err, out = os.fstat(sys.stderr.fileno()), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISREG(err.st_mode) and (err.st_dev, err.st_ino) != (out.st_dev, out.st_ino)


def report_error(message: str) -> None:
    """`error: ...` on stderr, and on stdout too when stderr goes to a file: a rule sends a job's
    stderr to its log file, and the reason a job failed must reach the console beside
    Snakemake's own report of the failure, not only the log."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    if _stderr_to_a_file():
        print(f"error: {message}", flush=True)
