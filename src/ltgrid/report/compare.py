"""Every method against a reference method, per (dataset, rho): mean paired difference over
seeds and its 95% interval, marked where the interval excludes zero (see report.stats)."""

from __future__ import annotations

from pathlib import Path

from typing import Sequence

import pandas as pd

from ltgrid.errors import ReportError

from ltgrid.evaluate.cell import PROTOCOLS
from ltgrid.report import stats
from ltgrid.io import write_text
from ltgrid.report.render import FORMATS, RENDERERS, Table
from ltgrid.report.outputs import TABLE_METRICS, comparison_stems
from ltgrid.report.rows import column_label, columns_of, methods_of

SHORT = {"top1_err": "top-1 error", "ece": "ECE"}
MARK = "*"


def format_difference(interval: stats.Interval | None) -> str:
    """'-1.23 [-2.40, -0.06] *' ; '-1.23 (n = 1, no interval)' ; '-' without paired seeds."""
    if interval is None:
        return "-"
    if not interval.defined:
        return f"{interval.mean:+.2f} (n = {interval.n}, no interval)"
    mark = f" {MARK}" if interval.excludes_zero() else ""
    return f"{interval.mean:+.2f} [{interval.low:+.2f}, {interval.high:+.2f}]{mark}"


def comparison_table(
    df: pd.DataFrame, reference: str, protocol: str, method_order: Sequence[str], grid: str,
    metrics: Sequence[str] = tuple(TABLE_METRICS),
) -> Table:
    """Rows: every method but the reference; per (dataset, rho) one column per metric."""
    if reference not in set(df["method"]):
        raise ReportError(f"reference method {reference!r} has no cells; methods with cells: {sorted(set(df['method']))}")
    columns = columns_of(df)
    rows, counts = [], set()
    for method in methods_of(df, method_order):
        if method == reference:
            continue
        diffs = {m: stats.paired_differences(df, m, protocol, method, reference) for m in metrics}
        row = [method]
        for dataset, rho in columns:
            for metric in metrics:
                values = diffs[metric].get((dataset, rho))
                interval = stats.t_interval(values) if values is not None and values.size else None
                counts.update([interval.n] if interval else [])
                row.append(format_difference(interval))
        rows.append(row)
    header = ["method"] + [SHORT.get(m, m) for _ in columns for m in metrics]
    spans = [("", 1)] + [(column_label(d, r), len(metrics)) for d, r in columns]
    n = ", ".join(map(str, sorted(counts))) or "0"
    caption = (
        f"{grid}: difference from {reference} (method - {reference}, percentage points; lower is better) "
        f"with its 95% interval, n = {n} paired seeds; model selection: {PROTOCOLS[protocol]}; "
        f"{MARK} the interval excludes 0"
    )
    notes = [
        f"interval: {stats.METHOD}; pairs share dataset, ratio, split seed and training seed",
        "a method's cells without a same-seed cell of the reference are left out of its pairs",
    ]
    return Table(caption, header, rows, spans, notes)


def build_comparisons(
    df: pd.DataFrame, refs: Sequence[str], protocols: Sequence[str], method_order: Sequence[str], grid: str
) -> dict[str, Table]:
    return {
        stem: comparison_table(df, ref, protocol, method_order, grid)
        for stem, (ref, protocol) in zip(comparison_stems(refs, protocols), ((r, p) for r in refs for p in protocols))
    }


def write_comparisons(
    df: pd.DataFrame, out_dir: str | Path, refs: Sequence[str], protocols: Sequence[str],
    method_order: Sequence[str], grid: str,
) -> list[Path]:
    """Every comparison table in every format; one writer for the rule and for tables-from-mlflow."""
    written = []
    for stem, table in build_comparisons(df, refs, protocols, method_order, grid).items():
        for ext in FORMATS:
            write_text(Path(out_dir) / f"{stem}{ext}", RENDERERS[ext](table))
            written.append(Path(out_dir) / f"{stem}{ext}")
    return written

