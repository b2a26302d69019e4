"""One cell's commands: the tracking store, train, evaluate.

Imports are lazy so `train` can take its GPU lease and set CUDA_VISIBLE_DEVICES before torch is
loaded."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ltgrid.cli.console import report_error
from ltgrid.cli.data import load_plugins


def _init_tracking(args: argparse.Namespace) -> int:
    from ltgrid.tracking.store import grid_experiment
    from ltgrid.io import write_json

    record = grid_experiment(json.loads(args.config))
    write_json(args.out, record)
    print(f"MLflow experiment {record['experiment']!r} (id {record['experiment_id']}) at {record['uri']}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from ltgrid.cell_spec import CellSpec
    from ltgrid.evaluate.cell import clear_evaluation
    from ltgrid.tracking.store import job_experiment
    from ltgrid.train.gpu_lease import gpu_lease

    cell = CellSpec.from_dict(json.loads(args.cell))
    tracking_info = job_experiment(args.tracking_config)
    clear_evaluation(args.out_dir)
    with gpu_lease() as gpu:
        if gpu is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        from ltgrid.train.trainer import TrainingError, train_cell

        load_plugins(cell.plugins)

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
    from ltgrid import cell_files as cf
    from ltgrid.evaluate.cell import evaluate_cell, read_run
    from ltgrid.report.cell_figures import write_cell_figures
    from ltgrid.tracking.grid import flat_metrics
    from ltgrid.tracking.cell_run import log_evaluation

    cell_dir = Path(args.cell_dir)
    run = read_run(cell_dir)
    result = evaluate_cell(cell_dir, run)
    figures = write_cell_figures(cell_dir, result, run)
    log_evaluation(run, flat_metrics(result), [cell_dir / cf.METRICS, cell_dir / cf.PER_CLASS_CSV], figures)
    final = result["protocols"]["final"]
    print(f"{result['label']}: top-1 error {final['top1_err']:.2f}%, ECE {final['ece']:.2f}%")
    return 0


def commands(sub: Any) -> None:
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
