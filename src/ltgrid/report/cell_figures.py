"""A cell's figures (final protocol), next to its metrics.json: the reliability diagram, per-class
accuracy against class size, and the training curves, drawn from metrics.json and run.json,
never recomputed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from ltgrid import cell_files as cf
from ltgrid.evaluate.protocols import PROTOCOLS
from ltgrid.io import read_json
from ltgrid.report import figures


def plot_history(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """run.json's history on one epoch axis across stages; records without training (tau-norm) get NaN."""
    nan = float("nan")
    return [
        {"epoch": i, "train_loss": r.get("train_loss", nan), "train_acc": r.get("train_acc", nan), "lr": r.get("lr", nan),
         "val_acc": r.get("val_acc"), "test_acc": r.get("test_acc")}
        for i, r in enumerate(history)
    ]


def write_cell_figures(cell_dir: str | Path, result: dict[str, Any], run: dict[str, Any] | None = None) -> list[Path]:
    """The cell's figures (final protocol), next to metrics.json; returns the files."""
    cell_dir = Path(cell_dir)
    final = result["protocols"]["final"]
    title = f"{result['label']}\n{PROTOCOLS['final']}"
    counts = np.asarray(result["train_counts"])
    seen = counts > 0  # a class without training images has no place on a log axis
    written = [
        figures.reliability_diagram(final["reliability"], cell_dir / cf.FIGURES["reliability"], title),
        figures.per_class_accuracy_plot(
            counts[seen], [a for a, s in zip(final["per_class_acc"], seen) if s], cell_dir / cf.FIGURES["per_class"], title
        ),
    ]
    history = (run if run is not None else read_json(cell_dir / cf.RUN))["history"]
    stages = " + ".join(dict.fromkeys(str(r.get("stage", "stage1")) for r in history))
    written.append(figures.training_curves(plot_history(history), cell_dir / cf.FIGURES["curves"], f"{result['label']} ({stages})"))
    print(f"[{result['label']}] figures: {', '.join(p.name for p in written)}", file=sys.stderr, flush=True)
    return written
