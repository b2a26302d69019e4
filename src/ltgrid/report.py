"""Cells -> tables: methods as rows, (dataset, rho) as columns, mean +- std over seeds.

Written as markdown, CSV and LaTeX (booktabs) into results/tables/<grid>/, one table per
metric and model-selection protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ltgrid.io import read_json, write_text

TABLE_METRICS = {"top1_err": "Top-1 error (%)", "ece": "ECE (%, 15 bins)"}


def cell_rows(metrics_files: Iterable[str | Path]) -> pd.DataFrame:
    """One row per (cell, protocol) with the scalar metrics."""
    rows = []
    for path in metrics_files:
        result = read_json(path)
        cell = result["cell"]
        for protocol, m in result["protocols"].items():
            rows.append({
                "dataset": cell["dataset"], "rho": cell["rho"], "split_seed": cell["split_seed"],
                "method": cell["method"], "seed": cell["seed"], "protocol": protocol,
                **{k: v for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
            })
    return pd.DataFrame(rows)


def column_label(dataset: str, rho: float) -> str:
    return f"{dataset} rho={rho:g}"


def aggregate(df: pd.DataFrame, metric: str, protocol: str, method_order: list[str]) -> pd.DataFrame:
    """Mean, std and count over seeds (training and split seeds) for each method x (dataset, rho)."""
    sub = df[df["protocol"] == protocol]
    grouped = sub.groupby(["method", "dataset", "rho"])[metric]
    stats = grouped.agg(["mean", "std", "count"]).reset_index()
    stats["column"] = [column_label(d, r) for d, r in zip(stats["dataset"], stats["rho"])]
    order = [m for m in method_order if m in set(stats["method"])]
    stats["method"] = pd.Categorical(stats["method"], categories=order, ordered=True)
    return stats.sort_values(["method", "dataset", "rho"])


def format_cell(mean: float, std: float, count: int) -> str:
    if pd.isna(mean):
        return "-"
    if count > 1 and not pd.isna(std):
        return f"{mean:.2f} ± {std:.2f}"
    return f"{mean:.2f}"


def wide_table(stats: pd.DataFrame) -> pd.DataFrame:
    columns = list(dict.fromkeys(stats.sort_values(["dataset", "rho"])["column"]))
    table = pd.DataFrame(index=pd.Index(stats["method"].cat.categories, name="method"), columns=columns, dtype=object)
    for row in stats.itertuples():
        table.loc[row.method, row.column] = format_cell(row.mean, row.std, row.count)
    return table.fillna("-")


def to_markdown(table: pd.DataFrame, caption: str) -> str:
    header = "| method | " + " | ".join(table.columns) + " |"
    sep = "|---|" + "---|" * len(table.columns)
    lines = [f"**{caption}**", "", header, sep]
    lines += ["| " + str(idx) + " | " + " | ".join(str(v) for v in row) + " |" for idx, row in table.iterrows()]
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, caption: str) -> str:
    esc = lambda s: str(s).replace("_", r"\_").replace("±", r"$\pm$")  # noqa: E731
    cols = "l" + "c" * len(table.columns)
    lines = [
        r"\begin{table}[t]", r"\centering", rf"\caption{{{esc(caption)}}}", rf"\begin{{tabular}}{{{cols}}}",
        r"\toprule", "method & " + " & ".join(esc(c) for c in table.columns) + r" \\", r"\midrule",
    ]
    lines += [esc(idx) + " & " + " & ".join(esc(v) for v in row) + r" \\" for idx, row in table.iterrows()]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def seed_note(stats: pd.DataFrame) -> str:
    counts = sorted(set(int(c) for c in stats["count"]))
    return f"n = {', '.join(map(str, counts))} seed(s) per cell; mean ± std over seeds where n > 1"


def write_tables(
    metrics_files: Iterable[str | Path], out_dir: str | Path, method_order: list[str], grid: str
) -> list[Path]:
    """Write every table for a grid; return the files written."""
    from ltgrid.evaluate import PROTOCOLS

    out_dir = Path(out_dir)
    df = cell_rows(metrics_files)
    written: list[Path] = []
    write_text(out_dir / "cells.csv", df.to_csv(index=False))
    written.append(out_dir / "cells.csv")
    for protocol in [p for p in PROTOCOLS if p in set(df["protocol"])]:
        for metric, title in TABLE_METRICS.items():
            stats = aggregate(df, metric, protocol, method_order)
            table = wide_table(stats)
            caption = f"{grid}: {title}; model selection: {PROTOCOLS[protocol]}; {seed_note(stats)}"
            stem = out_dir / f"{metric}_{protocol}"
            write_text(stem.with_suffix(".md"), to_markdown(table, caption))
            write_text(stem.with_suffix(".csv"), table.to_csv())
            write_text(stem.with_suffix(".tex"), to_latex(table, caption))
            written += [stem.with_suffix(s) for s in (".md", ".csv", ".tex")]
    return written


def summary(metrics_files: Iterable[str | Path]) -> dict[str, Any]:
    """Mean final-epoch metrics per (dataset, rho, method), for `dvc metrics show`."""
    df = cell_rows(metrics_files)
    df = df[df["protocol"] == "final"]
    out: dict[str, Any] = {}
    for (dataset, rho, method), sub in df.groupby(["dataset", "rho", "method"]):
        out[f"{dataset}/rho{rho:g}/{method}"] = {
            "top1_err": round(float(sub["top1_err"].mean()), 4), "ece": round(float(sub["ece"].mean()), 4),
        }
    return out
