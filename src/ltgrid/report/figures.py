"""PNG figures drawn from metrics.json contents and training histories.

Uses matplotlib's object API on an Agg canvas (no pyplot, so no global state and no display),
and writes each file atomically so Snakemake never sees a half-written PNG.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ltgrid.io import atomic_path
from ltgrid.evaluate.calibration import bin_arrays, ece, nan_array

PathLike = str | os.PathLike[str]


def _save(fig: Figure, path: PathLike) -> Path:
    """Render `fig` to a temp sibling of `path`, then os.replace it into place."""
    FigureCanvasAgg(fig)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def _edges(bins: dict[str, Any], n: int) -> np.ndarray:
    edges = np.asarray(bins.get("edges", np.linspace(0.0, 1.0, n + 1)), dtype=np.float64)
    if edges.shape != (n + 1,):
        raise ValueError(f"bins edges must have {n + 1} values for {n} bins, got {edges.shape}")
    return edges


def _diagonal(ax: Any) -> None:
    ax.plot([0, 1], [0, 1], color="0.4", linestyle="--", linewidth=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_aspect("equal")


def reliability_diagram(bins: dict[str, Any], path: PathLike, title: str) -> Path:
    """Accuracy per confidence bin as bars against the diagonal; the gap to mean confidence shaded.

    `bins` is `metrics.calibration_bins(...)` or the "reliability" entry of metrics.json.
    """
    counts, acc, conf = bin_arrays(bins)
    edges = _edges(bins, counts.size)
    full = counts > 0
    left, width = edges[:-1][full], np.diff(edges)[full]
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    ax.bar(left, acc[full], width=width, align="edge", color="tab:blue", edgecolor="black",
           linewidth=0.5, label=f"accuracy (ECE {100 * ece(bins):.2f}%)")
    gap_lo = np.minimum(acc[full], conf[full])
    ax.bar(left, np.abs(conf[full] - acc[full]), bottom=gap_lo, width=width, align="edge",
           color="tab:red", alpha=0.3, edgecolor="tab:red", hatch="//", linewidth=0.5, label="gap to confidence")
    _diagonal(ax)
    ax.set_title(title)
    ax.legend(loc="upper left")
    return _save(fig, path)


def reliability_overlay(curves: Sequence[tuple[str, dict[str, Any]]], path: PathLike, title: str) -> Path:
    """One accuracy-vs-confidence line per method (non-empty bins only), on shared axes."""
    if not curves:
        raise ValueError("reliability_overlay needs at least one (label, bins) pair, got none")
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    for label, bins in curves:
        counts, acc, conf = bin_arrays(bins)
        full = counts > 0
        ax.plot(conf[full], acc[full], marker="o", markersize=3, label=f"{label} (ECE {100 * ece(bins):.2f}%)")
    _diagonal(ax)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    return _save(fig, path)


def agnostic_plot(
    labels: Sequence[str], lines: Sequence[tuple[str, Sequence[float], bool]], path: PathLike, title: str
) -> Path:
    """Error (%) against the test distribution: one line per (name, values, dashed) on shared x ticks."""
    if not lines:
        raise ValueError("agnostic_plot needs at least one line, got none")
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    for name, values, dashed in lines:
        if len(values) != len(labels):
            raise ValueError(f"line {name!r} has {len(values)} values for {len(labels)} test distributions")
        ax.plot(x, values, marker="o", markersize=3, linestyle="--" if dashed else "-", label=name)
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.set_xlabel("test class distribution (imbalance)")
    ax.set_ylabel("top-1 error (%)")
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize="small")
    return _save(fig, path)


def per_class_accuracy_plot(train_counts: Any, per_class_acc: Any, path: PathLike, title: str) -> Path:
    """Test accuracy (percent, as in metrics.json) of each class against its training size, log x.

    Classes are sorted by size so the line runs head to tail; classes without an accuracy
    (None/NaN: no test image) are left out.
    """
    n = np.asarray(train_counts, dtype=np.float64)
    acc = nan_array(per_class_acc)
    if n.ndim != 1 or n.shape != acc.shape:
        raise ValueError(f"train_counts shape {n.shape} and per_class_acc shape {acc.shape} must be equal and 1-D")
    if (n <= 0).any():
        raise ValueError(f"train_counts must be > 0 for a log axis; class {int(np.flatnonzero(n <= 0)[0])} has {n[n <= 0][0]:g}")
    order = np.argsort(-n, kind="stable")
    n, acc = n[order], acc[order]
    keep = ~np.isnan(acc)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(n[keep], acc[keep], marker="o", markersize=3, linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training images of the class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    return _save(fig, path)


REQUIRED_HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "lr")


def training_curves(history: Sequence[dict[str, Any]], path: PathLike, title: str) -> Path:
    """Loss, accuracy (train and, when logged, val/test) and learning rate against epoch."""
    if not history:
        raise ValueError("training_curves needs a non-empty history, got none")
    for i, row in enumerate(history):
        missing = [k for k in REQUIRED_HISTORY_KEYS if k not in row]
        if missing:
            raise ValueError(f"history entry {i} lacks {missing}; has {sorted(row)}")
    epoch = np.array([row["epoch"] for row in history], dtype=np.float64)
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    ax_loss, ax_acc, ax_lr = fig.subplots(1, 3)
    ax_loss.plot(epoch, [row["train_loss"] for row in history], label="train")
    ax_loss.set_ylabel("loss")
    ax_acc.plot(epoch, [row["train_acc"] for row in history], label="train")
    for key in ("val_acc", "test_acc"):
        pts = [(row["epoch"], row[key]) for row in history if row.get(key) is not None]
        if pts:
            x, y = zip(*pts)
            ax_acc.plot(x, y, label=key.removesuffix("_acc"))
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend(fontsize="small")
    ax_lr.plot(epoch, [row["lr"] for row in history])
    ax_lr.set_ylabel("learning rate")
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def ablation_lines(
    panels: Sequence[tuple[str, Sequence[tuple[str, Sequence[Any], Sequence[float], Sequence[float]]]]],
    x_label: str, path: PathLike, title: str,
) -> Path:
    """One panel per metric: mean ± std over seeds against a swept value, one line per setting
    of the other swept values. Each line is (label, x values, means, stds); x values that are
    not all numbers are placed in the order given, as categories."""
    xs = [x for _, lines in panels for _, line_x, _, _ in lines for x in line_x]
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    categories = list(dict.fromkeys(map(str, xs)))
    fig = Figure(figsize=(5 * len(panels), 4))
    for i, (ylabel, lines) in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), i)
        for label, line_x, means, stds in lines:
            pos = [float(x) for x in line_x] if numeric else [categories.index(str(x)) for x in line_x]
            ax.errorbar(pos, means, yerr=stds, marker="o", capsize=3, label=label)
        if not numeric:
            ax.set_xticks(range(len(categories)), categories)
        ax.set_xlabel(x_label)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if len(lines) > 1 or lines[0][0]:
            ax.legend(fontsize="small")
    fig.suptitle(title)
    return _save(fig, path)
