"""Grid-level figures of one (dataset, rho) from its cells: reliability overlays (seeds pooled)
and error vs test imbalance; `ltgrid.report.figures` draws them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ltgrid.evaluate.calibration import nan_array
from ltgrid.evaluate.protocols import PROTOCOLS
from ltgrid.io import read_json
from ltgrid.report.rows import cell_rows, columns_of, log
from ltgrid.report.tables import agnostic_series, distribution_label


def pooled_bins(bins_list: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Reliability bins of several seeds pooled into one: counts add, accuracy and confidence are count-weighted."""
    if not bins_list:
        raise ValueError("pooled_bins needs at least one bins dict")
    edges = np.asarray(bins_list[0]["edges"], dtype=np.float64)
    counts = np.zeros(edges.size - 1)
    acc_sum, conf_sum = np.zeros_like(counts), np.zeros_like(counts)
    for bins in bins_list:
        if not np.allclose(bins["edges"], edges):
            raise ValueError(f"cannot pool reliability bins with different edges: {bins['edges']} vs {edges.tolist()}")
        c = np.asarray(bins["counts"], dtype=np.float64)
        counts += c
        acc_sum += c * np.nan_to_num(nan_array(bins["acc"]))
        conf_sum += c * np.nan_to_num(nan_array(bins["conf"]))
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(counts > 0, acc_sum / np.maximum(counts, 1), np.nan)
        conf = np.where(counts > 0, conf_sum / np.maximum(counts, 1), np.nan)
    return {"n_bins": int(counts.size), "counts": counts, "acc": acc, "conf": conf, "edges": edges}


def write_overlay(
    metrics_files: Iterable[str | Path], out: str | Path, method_order: Sequence[str], title: str,
    protocol: str = "final",
) -> Path:
    """One reliability curve per method (its seeds pooled) for one (dataset, rho)."""
    from ltgrid.report.figures import reliability_overlay

    by_method: dict[str, list[dict[str, Any]]] = {}
    for path in metrics_files:
        result = read_json(path)
        by_method.setdefault(result["cell"]["method"], []).append(result["protocols"][protocol]["reliability"])
    order = [m for m in method_order if m in by_method] + sorted(set(by_method) - set(method_order))
    curves = [(f"{m} ({len(by_method[m])} seed{'s' * (len(by_method[m]) > 1)})", pooled_bins(by_method[m])) for m in order]
    path = reliability_overlay(curves, out, f"{title}\nmodel selection: {PROTOCOLS[protocol]}")
    log(f"figures: {path} ({len(curves)} methods)")
    return path


def write_agnostic_figure(
    metrics_files: Iterable[str | Path], out: str | Path, method_order: Sequence[str], title: str
) -> Path:
    """Error vs test imbalance for one (dataset, rho): the cells' final-protocol errors, seeds averaged."""
    from ltgrid.evaluate.test_agnostic import distributions
    from ltgrid.report.figures import agnostic_plot

    df = cell_rows(metrics_files)
    pairs = columns_of(df)
    if len(pairs) != 1:
        raise ValueError(f"a test-agnostic figure is for one (dataset, rho); the cells have {pairs}")
    series = agnostic_series(df, *pairs[0], method_order)
    lines = [(label, [np.nan if s is None else s[0] for s in stats], dashed) for label, stats, dashed in series]
    labels = [distribution_label(n) for n, _, _ in distributions()]
    path = agnostic_plot(labels, lines, out, f"{title}\nmodel selection: {PROTOCOLS['final']}")
    log(f"figures: {path} ({len(lines)} lines)")
    return path
