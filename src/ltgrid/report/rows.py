"""Cells -> the frame every table is built from (one row per cell and protocol), and its
aggregates over seeds. The rows come from metrics.json files (`cell_rows`) or from the MLflow
store (`ltgrid.report.from_mlflow`); both give the same frame, so both give the same tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from ltgrid.errors import ReportError
from ltgrid.evaluate.protocols import SCALAR_KEYS
from ltgrid.io import read_json


KEY_COLUMNS = ["dataset", "rho", "split_seed", "method", "seed", "protocol"]


ROW_COLUMNS = [*KEY_COLUMNS, "shots_many", "shots_few", *SCALAR_KEYS, "epoch"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cell_rows(metrics_files: Iterable[str | Path]) -> pd.DataFrame:
    """One row per (cell, protocol): the cell's keys, its shot thresholds and its scalar metrics."""
    rows = []
    for path in metrics_files:
        result = read_json(path)
        cell = result["cell"]
        for protocol, m in result["protocols"].items():
            rows.append({
                "dataset": cell["dataset"], "rho": float(cell["rho"]), "split_seed": int(cell["split_seed"]),
                "method": cell["method"], "seed": int(cell["seed"]), "protocol": protocol,
                "shots_many": int(cell["shots"]["many"]), "shots_few": int(cell["shots"]["few"]),
                **{k: float(m[k]) for k in (*SCALAR_KEYS, "epoch") if m.get(k) is not None},
            })
    if not rows:
        raise ReportError("no metrics.json given: nothing to tabulate")
    return frame(rows)


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> the frame every table is built from (fixed columns, whichever source the rows came from)."""
    df = pd.DataFrame(rows).reindex(columns=ROW_COLUMNS)
    return df.sort_values(KEY_COLUMNS).reset_index(drop=True)


def has_temperature(df: pd.DataFrame, protocol: str) -> bool:
    """Some cell of this protocol has a fitted temperature (it had a validation set)."""
    return "ts_ece" in df.columns and bool(df.loc[df["protocol"] == protocol, "ts_ece"].notna().any())


def column_label(dataset: str, rho: float) -> str:
    return f"{dataset} rho={rho:g}"


def columns_of(df: pd.DataFrame) -> list[tuple[str, float]]:
    """(dataset, rho) pairs of every cell, sorted: the same columns under every protocol."""
    return sorted({(d, float(r)) for d, r in zip(df["dataset"], df["rho"])})


def methods_of(df: pd.DataFrame, method_order: Sequence[str]) -> list[str]:
    """Rows: the given order, then any other method present, alphabetically."""
    present = set(df["method"])
    return [m for m in method_order if m in present] + sorted(present - set(method_order))


def aggregate(df: pd.DataFrame, metric: str, protocol: str) -> dict[tuple[str, str, float], tuple[float, float, int]]:
    """(method, dataset, rho) -> (mean, sample std, n) over training and split seeds."""
    sub = df[df["protocol"] == protocol]
    if metric not in sub.columns:
        return {}
    sub = sub[sub[metric].notna()]
    out = {}
    for (method, dataset, rho), values in sub.groupby(["method", "dataset", "rho"])[metric]:
        out[(method, dataset, float(rho))] = (float(values.mean()), float(values.std(ddof=1)), int(values.size))
    return out


def metric_values(df: pd.DataFrame, metric: str, protocol: str, method: str, dataset: str, rho: float) -> list[float]:
    """The per-seed values behind one aggregate (for intervals)."""
    sub = df[(df["protocol"] == protocol) & (df["method"] == method) & (df["dataset"] == dataset) & (df["rho"] == rho)]
    return [float(v) for v in sub[metric].dropna()] if metric in sub.columns else []


def format_stat(stat: tuple[float, float, int] | None, show_n: bool) -> str:
    if stat is None:
        return "-"
    mean, std, n = stat
    text = f"{mean:.2f} ± {std:.2f}" if n > 1 else f"{mean:.2f}"
    return f"{text} ({n})" if show_n else text


def seed_note(counts: Iterable[int]) -> tuple[str, bool]:
    """Caption text about seeds, and whether cells must show their own n (counts differ)."""
    ns = sorted(set(counts))
    if not ns:
        return "no cell evaluated", False
    if ns == [1]:
        return "n = 1 seed per cell (no std)", False
    if len(ns) == 1:
        return f"mean ± sample std over n = {ns[0]} seeds per cell (training x split seeds)", False
    return f"mean ± sample std over n = {', '.join(map(str, ns))} seeds per cell, (n) after each value", True
