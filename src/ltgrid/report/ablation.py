"""Ablation report of a sweep: top-1 error and ECE (mean ± std over seeds) against the swept
values, one table per sweep and one figure per (sweep, dataset, rho).

The swept values are read from each cell's own metrics.json (its resolved recipe carries
them, see ltgrid.params.sweeps), so the report needs nothing but the cells.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from ltgrid.errors import ReportError

from ltgrid.evaluate.cell import PROTOCOLS
from ltgrid.io import read_json, write_text
from ltgrid.params.sweeps import format_value
from ltgrid.report.render import FORMATS, RENDERERS, Table
from ltgrid.report.outputs import TABLE_METRICS
from ltgrid.report.rows import column_label, format_stat

METRICS = {"top1_err": "top-1 error (%)", "ece": "ECE (%)"}


def sweep_rows(metrics_files: Iterable[str | Path], sweep: str, protocol: str) -> tuple[pd.DataFrame, list[str]]:
    """One row per cell of the sweep: dataset, rho, seeds, each swept value, the metrics."""
    rows, keys = [], None
    for path in metrics_files:
        result = read_json(path)
        cell = result["cell"]
        record = cell.get("sweep") or {}
        if record.get("name") != sweep:
            raise ReportError(f"{path}: cell {cell['method']!r} is not a variant of sweep {sweep!r}")
        keys = keys or list(record["values"])
        m = result["protocols"][protocol]
        rows.append({"dataset": cell["dataset"], "rho": float(cell["rho"]), "split_seed": cell["split_seed"],
                     "seed": cell["seed"], "method": cell["method"], "values": json.dumps(record["values"]),
                     **{k: float(m[k]) for k in METRICS}})
    if not rows:
        raise ReportError(f"sweep {sweep!r}: no metrics.json given")
    return pd.DataFrame(rows), keys or []


def summarise(df: pd.DataFrame, keys: Sequence[str]) -> list[dict[str, Any]]:
    """(dataset, rho, swept values) -> mean, sample std and n per metric, variants in cell order."""
    out = []
    order = list(dict.fromkeys(df["method"]))
    for (dataset, rho, method), sub in df.groupby(["dataset", "rho", "method"], sort=False):
        stats = {k: (float(sub[k].mean()), float(sub[k].std(ddof=1)) if len(sub) > 1 else 0.0, len(sub)) for k in METRICS}
        out.append({"dataset": dataset, "rho": float(rho), "method": method, "order": order.index(method),
                    "values": json.loads(sub["values"].iloc[0]), "stats": stats})
    return sorted(out, key=lambda r: (r["dataset"], r["rho"], r["order"]))


def ablation_table(summary: list[dict[str, Any]], keys: Sequence[str], sweep: str, grid: str, protocol: str) -> Table:
    ns = sorted({r["stats"]["top1_err"][2] for r in summary})
    rows = [
        [r["dataset"], f"{r['rho']:g}", *(format_value(r["values"][k]) for k in keys),
         *(format_stat(r["stats"][m], len(ns) > 1) for m in METRICS)]
        for r in summary
    ]
    caption = (
        f"{grid}: ablation {sweep} over {', '.join(keys)}; {', '.join(TABLE_METRICS[m] for m in METRICS)}; "
        f"mean ± sample std over n = {', '.join(map(str, ns))} seeds; model selection: {PROTOCOLS[protocol]}"
    )
    return Table(caption, ["dataset", "rho", *keys, *METRICS.values()], rows)


def figure_lines(summary: list[dict[str, Any]], keys: Sequence[str], metric: str) -> list[tuple[str, list, list, list]]:
    """Lines against the first swept key, one per setting of the others."""
    x_key, others = keys[0], list(keys[1:])
    settings = list(dict.fromkeys(tuple(r["values"][k] for k in others) for r in summary))
    lines = []
    for setting in settings:
        points = [r for r in summary if tuple(r["values"][k] for k in others) == setting]
        if all(isinstance(r["values"][x_key], (int, float)) for r in points):
            points = sorted(points, key=lambda r: r["values"][x_key])
        label = ", ".join(f"{k}={format_value(v)}" for k, v in zip(others, setting))
        lines.append((label, [r["values"][x_key] for r in points], [r["stats"][metric][0] for r in points],
                      [r["stats"][metric][1] for r in points]))
    return lines


def write_ablation_table(metrics_files: Sequence[str | Path], sweep: str, grid: str, out_dir: str | Path,
                         protocol: str = "final") -> list[Path]:
    """The sweep's table over every (dataset, rho) it ran, as md, csv, tex and html."""
    df, keys = sweep_rows(metrics_files, sweep, protocol)
    table = ablation_table(summarise(df, keys), keys, sweep, grid, protocol)
    written = []
    for ext in FORMATS:
        written.append(Path(out_dir) / f"ablation_{sweep}{ext}")
        write_text(written[-1], RENDERERS[ext](table))
    return written


def write_ablation_figure(metrics_files: Sequence[str | Path], sweep: str, grid: str, out: str | Path,
                          protocol: str = "final") -> Path:
    """Top-1 error and ECE against the swept values for the cells given (one dataset and rho)."""
    from ltgrid.report.figures import ablation_lines

    df, keys = sweep_rows(metrics_files, sweep, protocol)
    columns = sorted(set(zip(df["dataset"], df["rho"])))
    if len(columns) != 1:
        raise ReportError(f"an ablation figure shows one (dataset, rho); the cells given have {columns}")
    summary = summarise(df, keys)
    panels = [(f"{label}, mean ± std", figure_lines(summary, keys, m)) for m, label in METRICS.items()]
    title = f"{grid}: {sweep}, {column_label(*columns[0])}\nmodel selection: {PROTOCOLS[protocol]}"
    return ablation_lines(panels, keys[0], out, title)
