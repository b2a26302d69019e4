"""Cells -> tables: methods as rows, (dataset, rho) as columns, mean +- std over seeds.

Every table is written as markdown, CSV, LaTeX (booktabs) and a small HTML page (for
Snakemake's report; `ltgrid.report.render`) into results/tables/<grid>/, once per model-selection protocol, and
every caption names that protocol and the number of seeds. The rows come from metrics.json
files or from the MLflow store (ltgrid.report.rows); which tables a grid has is
ltgrid.report.outputs, the list the rules use too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ltgrid.errors import ReportError
from ltgrid.evaluate.protocols import PROTOCOLS
from ltgrid.io import write_text
from ltgrid.report.outputs import GROUPINGS, TABLE_METRICS, agnostic_stems
from ltgrid.params.published import EMPTY, PUBLISHED_METRICS, Published
from ltgrid.report.render import FORMATS, RENDERERS, Table
from ltgrid.report.rows import (aggregate, column_label, columns_of, format_stat, frame, has_temperature, log,
                                methods_of, metric_values, seed_note)
from ltgrid.report.stats import published_columns

CALIBRATION_NOTE = (
    "ECE, MCE and OE: top-1 confidence in 15 equal-width bins (b_{k-1}, b_k]; OE (Thulasidasan et al. 2019) "
    "counts only bins more confident than accurate, weighted by their confidence; classwise ECE: every class's "
    "probability of every test image in the same bins, a one-vs-rest ECE per class, mean over classes "
    "(Kull et al. 2019); adaptive ECE: top-1 confidence in 15 equal-mass bins (sorted, cut by rank)"
)


# Written only for protocols whose cells have a validation set to fit the temperature on.
CALIBRATION = (
    {"ECE": "ece", "ECE after TS": "ts_ece", "NLL": "nll", "NLL after TS": "ts_nll", "T": "ts_temperature"},
    "ECE (%) and NLL (nats) on the test images before and after temperature scaling, T fitted per cell "
    "on its validation split (post hoc; accuracy unchanged)",
)


def metric_table(df: pd.DataFrame, metric: str, protocol: str, method_order: Sequence[str], grid: str) -> Table:
    stats = aggregate(df, metric, protocol)
    note, show_n = seed_note(n for _, _, n in stats.values())
    columns = columns_of(df)
    rows = [
        [method] + [format_stat(stats.get((method, d, r)), show_n) for d, r in columns]
        for method in methods_of(df, method_order)
    ]
    caption = f"{grid}: {TABLE_METRICS[metric]}; model selection: {PROTOCOLS[protocol]}; {note}"
    return Table(caption, ["method"] + [column_label(d, r) for d, r in columns], rows, notes=train_acc_notes(df, method_order))


def train_acc_notes(df: pd.DataFrame, method_order: Sequence[str]) -> list[str]:
    """How well each final model fits its own training split (unaugmented), per column: the
    paper's models fit theirs (near 100%), which is where CE turns over-confident."""
    if "train_acc" not in df or df["train_acc"].isna().all():
        return []
    stats = aggregate(df, "train_acc", "final")
    parts = []
    for dataset, rho in columns_of(df):
        accs = [f"{m} {stats[(m, dataset, rho)][0]:.1f}" for m in methods_of(df, method_order) if (m, dataset, rho) in stats]
        if accs:
            parts.append(f"{column_label(dataset, rho)}: {', '.join(accs)}")
    return ["training accuracy (%) of the final model on its unaugmented training split, mean over seeds: " + "; ".join(parts)]


def _group_notes(df: pd.DataFrame, kind: str, columns: list[tuple[str, float]]) -> list[str]:
    if kind == "temperature":
        return ["T minimises the validation NLL of softmax(z / T) (Guo et al. 2017), T in [1e-4, 1e4]"]
    if kind == "calibration":
        return [CALIBRATION_NOTE]
    notes = []
    if kind == "shots":
        for dataset, sub in df.groupby("dataset"):
            many, few = int(sub["shots_many"].iloc[0]), int(sub["shots_few"].iloc[0])
            notes.append(
                f"{dataset}: many = more than {many}, medium = {few} to {many}, few = fewer than {few} training images"
            )
    keys = ["many", "medium", "few"] if kind == "shots" else ["thirds_head", "thirds_medium", "thirds_tail"]
    for dataset, rho in columns:
        sub = df[(df["dataset"] == dataset) & (df["rho"] == rho)]
        sizes = [sub[f"n_classes_{k}"].iloc[0] if f"n_classes_{k}" in sub else np.nan for k in keys]
        if not any(pd.isna(s) for s in sizes):
            notes.append(f"{column_label(dataset, rho)}: {' / '.join(str(int(s)) for s in sizes)} classes per group")
    return notes


def group_table(df: pd.DataFrame, kind: str, protocol: str, method_order: Sequence[str], grid: str) -> Table:
    """Several metrics under each (dataset, rho): accuracy per class group (standard shots, or thirds),
    the calibration suite (kind "calibration"), or calibration before and after temperature scaling
    (kind "temperature")."""
    groups, title = CALIBRATION if kind == "temperature" else GROUPINGS[kind]
    stats = {name: aggregate(df, metric, protocol) for name, metric in groups.items()}
    note, show_n = seed_note(n for s in stats.values() for _, _, n in s.values())
    columns = columns_of(df)
    rows = [
        [method] + [format_stat(stats[g].get((method, d, r)), show_n) for d, r in columns for g in groups]
        for method in methods_of(df, method_order)
    ]
    header = ["method"] + [g for _ in columns for g in groups]
    spans = [("", 1)] + [(column_label(d, r), len(groups)) for d, r in columns]
    caption = f"{grid}: {title}; model selection: {PROTOCOLS[protocol]}; {note}"
    return Table(caption, header, rows, spans, _group_notes(df, kind, columns))


TEST_AGNOSTIC_CAPTION = (
    "top-1 error (%) on test sets re-sampled to long-tailed class distributions (Zhang et al. 2022): "
    "forward r = class 0 (the training head) the most frequent, max/min test count r; backward r = the "
    "reverse; uniform = the reported test set"
)


PRIOR_ROW = "{} + p_test = test prior"


def distribution_label(name: str) -> str:
    return name.replace("forward", "forward ").replace("backward", "backward ")


def agnostic_series(
    df: pd.DataFrame, dataset: str, rho: float, method_order: Sequence[str]
) -> list[tuple[str, list[tuple[float, float, int] | None], bool]]:
    """(row label, a stat per test distribution, is the matched-prior row) per method, and after a
    Bayias method its row with the test prior matched; final protocol, seeds pooled."""
    from ltgrid.evaluate.test_agnostic import distributions

    sub = df[(df["dataset"] == dataset) & (df["rho"] == rho)]
    names = [name for name, _, _ in distributions()]
    plain = [aggregate(sub, f"ta_{n}_top1_err", "final") for n in names]
    prior = [aggregate(sub, f"ta_{n}_prior_top1_err", "final") for n in names]
    series = []
    for method in methods_of(sub, method_order):
        key = (method, dataset, rho)
        series.append((method, [stats.get(key) for stats in plain], False))
        if any(key in stats for stats in prior):
            series.append((PRIOR_ROW.format(method), [stats.get(key) for stats in prior], True))
    return series


def agnostic_table(df: pd.DataFrame, dataset: str, rho: float, method_order: Sequence[str], grid: str) -> Table:
    """Methods (and Bayias with its test prior matched) as rows, test distributions as columns."""
    from ltgrid.evaluate.test_agnostic import distributions

    series = agnostic_series(df, dataset, rho, method_order)
    note, show_n = seed_note(stat[2] for _, stats, _ in series for stat in stats if stat is not None)
    rows = [[label] + [format_stat(stat, show_n) for stat in stats] for label, stats, _ in series]
    caption = f"{grid}: {column_label(dataset, rho)}: {TEST_AGNOSTIC_CAPTION}; model selection: {PROTOCOLS['final']}; {note}"
    notes = [f"{PRIOR_ROW.format('<method>')}: a Bayias cell scored with logits z + log q - log p_train, q the "
             "re-sampled set's class frequencies (Bayias trained with p_test = q, up to the classifier bias)"]
    return Table(caption, ["method"] + [distribution_label(n) for n, _, _ in distributions()], rows, notes=notes)


def published_table(
    df: pd.DataFrame, published: Published, protocol: str, method_order: Sequence[str], grid: str
) -> Table:
    """One row per reproduced (dataset, rho, method): published figure or a dash, reproduced mean ± std (n), difference."""
    metrics = ["top1_err"] + [m for m in published.metrics() if m != "top1_err"]
    stats = {m: aggregate(df, m, protocol) for m in metrics}
    rows, used = [], []
    for dataset, rho in columns_of(df):
        for method in methods_of(df, method_order):
            for metric in metrics:
                stat = stats[metric].get((method, dataset, rho))
                fig = published.lookup(dataset, rho, method, metric)
                if stat is None or (fig is None and metric != "top1_err"):
                    continue
                row = [dataset, f"{rho:g}", method]
                if len(metrics) > 1:
                    row.append(PUBLISHED_METRICS[metric])
                if fig is None:
                    row += ["-", format_stat(stat, True), "-", "-"]
                else:
                    row += [f"{fig.value:.2f}", format_stat(stat, True), f"{stat[0] - fig.value:+.2f}", f"[{fig.source}]"]
                    used.append(fig.source)
                values = metric_values(df, metric, protocol, method, dataset, rho)
                comparable = published.sources[fig.source].comparable(protocol) if fig else "-"
                rows.append(row + published_columns(values, fig.value if fig else None) + [comparable])
    header = ["dataset", "rho", "method"] + (["metric"] if len(metrics) > 1 else [])
    header += ["published", "reproduced mean ± std (n)", "difference", "source", "reproduced 95% interval", "published inside",
               "same protocol"]
    what = "figures" if len(metrics) > 1 else PUBLISHED_METRICS["top1_err"]
    caption = (
        f"{grid}: published vs reproduced {what}; reproduced model selection: {PROTOCOLS[protocol]}; "
        "difference = reproduced mean - published; 95% interval of the reproduced mean: Student t over seeds, "
        "mean ± t(0.975, n-1) · s/√n (n >= 2); published inside: whether the published figure lies in it; "
        "a dash: no published figure (or fewer than two seeds); same protocol: whether the source picked its epoch "
        "as this table does (most published figures are the best test epoch: the best_test table is their match)"
    )
    notes = [f"[{key}] {published.sources[key].text()}" for key in dict.fromkeys(used)]
    return Table(caption, header, rows, notes=notes)


def build_tables(
    df: pd.DataFrame, method_order: Sequence[str], grid: str, protocols: Sequence[str], published: Published = EMPTY
) -> dict[str, Table]:
    """Every table of a grid, by file stem. A protocol listed but absent from the cells is an error."""
    missing = [p for p in protocols if p not in set(df["protocol"])]
    if missing:
        raise ReportError(f"protocol(s) {missing} requested but no cell has them; cells have {sorted(set(df['protocol']))}")
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise ReportError(f"unknown protocol(s) {unknown}; known: {list(PROTOCOLS)}")
    tables: dict[str, Table] = {}
    for protocol in protocols:
        for metric in TABLE_METRICS:
            tables[f"{metric}_{protocol}"] = metric_table(df, metric, protocol, method_order, grid)
        for kind in GROUPINGS:
            tables[f"{kind}_{protocol}"] = group_table(df, kind, protocol, method_order, grid)
        tables[f"published_{protocol}"] = published_table(df, published, protocol, method_order, grid)
        if has_temperature(df, protocol):
            tables[f"temperature_{protocol}"] = group_table(df, "temperature", protocol, method_order, grid)
    if "final" in protocols:
        for dataset, rho in columns_of(df):
            stem = agnostic_stems([(dataset, f"{rho:g}")])[0]
            tables[stem] = agnostic_table(df, dataset, rho, method_order, grid)
    return tables


def write_tables(
    df: pd.DataFrame, out_dir: str | Path, method_order: Sequence[str], grid: str,
    protocols: Sequence[str] | None = None, published: Published = EMPTY,
) -> list[Path]:
    """Write every table (md, csv, tex, html) and the per-cell rows (cells.csv); return the files."""
    out_dir = Path(out_dir)
    protocols = list(protocols) if protocols is not None else [p for p in PROTOCOLS if p in set(df["protocol"])]
    tables = build_tables(df, method_order, grid, protocols, published)
    write_text(out_dir / "cells.csv", frame(df.to_dict("records")).to_csv(index=False))
    written = [out_dir / "cells.csv"]
    for i, (stem, table) in enumerate(tables.items(), 1):
        for ext in FORMATS:
            write_text(out_dir / f"{stem}{ext}", RENDERERS[ext](table))
            written.append(out_dir / f"{stem}{ext}")
        log(f"tables: {i}/{len(tables)} {stem} ({', '.join(FORMATS)})")
    return written


def summary_key(dataset: str, rho: float) -> str:
    """`digits_rho10`: a (dataset, rho) in the headline metrics."""
    return f"{dataset}_rho{rho:g}"


def summary(df: pd.DataFrame, method_order: list[str] | None = None) -> dict[str, Any]:
    """The grid's headline for DVC (`dvc metrics show`, `dvc exp show`): mean final-epoch top-1
    error and ECE per method and (dataset, rho), method first, so that the columns of an
    experiment that changed one method sit side by side. Every other figure is in the tables."""
    df = df[df["protocol"] == "final"]
    order = list(method_order or []) + sorted(set(df["method"]) - set(method_order or []))
    out: dict[str, Any] = {}
    for method in (m for m in order if m in set(df["method"])):
        rows = df[df["method"] == method]
        out[method] = {
            summary_key(dataset, rho): {
                "top1_err": round(float(sub["top1_err"].mean()), 2), "ece": round(float(sub["ece"].mean()), 2),
            }
            for (dataset, rho), sub in rows.groupby(["dataset", "rho"])
        }
    return out
