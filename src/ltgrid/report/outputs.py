"""Which tables a grid has, by file name: the one list the rules (their outputs) and the table
writer use. Plain data, no pandas: the workflow reads it on every parse."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from ltgrid.evaluate.protocols import PROTOCOLS
from ltgrid.report.render import FORMATS


TABLE_METRICS = {"top1_err": "Top-1 error (%)", "ece": "ECE (%, 15 equal-width bins (b_{k-1}, b_k])"}


GROUPINGS = {
    "shots": (
        {"many": "many_acc", "medium": "medium_acc", "few": "few_acc"},
        "many / medium / few-shot top-1 accuracy (%)",
    ),
    "thirds": (
        {"head": "thirds_head_acc", "medium": "thirds_medium_acc", "tail": "thirds_tail_acc"},
        "head / medium / tail top-1 accuracy (%), classes split into thirds by index as the authors' configs "
        "(C=10: [0,3), [3,7), [7,10); C=100: [0,33), [33,66), [66,100); else floor(C/3), floor(2C/3))",
    ),
    # the calibration suite (evaluate/calibration.py), every cell, every protocol
    "calibration": (
        {"ECE": "ece", "classwise ECE": "classwise_ece", "adaptive ECE": "adaptive_ece", "OE": "oe", "MCE": "mce"},
        "calibration errors (%, 15 bins each)",
    ),
}


TABLE_KINDS = [*TABLE_METRICS, *GROUPINGS, "published"]


def has_validation(dataset: dict[str, Any]) -> bool:
    """A validation set: held out of the split (val_per_class) or of the test set (test_holdout_per_class),
    or a list-file source's own `val` list."""
    split = dataset.get("split") or {}
    held_out = (split.get("val_per_class") or 0) > 0 or (split.get("test_holdout_per_class") or 0) > 0
    return held_out or bool((dataset.get("source") or {}).get("val"))


def grid_protocols(config: dict[str, Any]) -> list[str]:
    """The protocols a grid's cells have: best_val only when some dataset has a validation set."""
    has_val = any(has_validation(ds) for ds in config["datasets"].values())
    return [p for p in PROTOCOLS if p != "best_val" or has_val]


def table_stems(protocols: Sequence[str], calibrated: bool = False) -> list[str]:
    """File stems (no extension) `write_tables` writes for these protocols; `calibrated`: the cells
    have a validation set, so the temperature-scaling tables are written too."""
    return [f"{kind}_{protocol}" for protocol in protocols for kind in table_kinds(calibrated)]


def table_kinds(calibrated: bool) -> list[str]:
    return [*TABLE_KINDS, "temperature"] if calibrated else list(TABLE_KINDS)


def table_files(table_dir: str, protocols: Sequence[str], calibrated: bool, exclude: Sequence[str] = ()) -> list[str]:
    """Every table file but the HTML ones (and `exclude`): the tables rule's plain outputs."""
    paths = [f"{table_dir}/{stem}{ext}" for stem in table_stems(protocols, calibrated) for ext in FORMATS if ext != ".html"]
    return [p for p in paths if p not in exclude]


def html_tables(table_dir: str, protocols: Sequence[str], calibrated: bool) -> list[tuple[str, str, str]]:
    """(path, kind, protocol) of every HTML table: the report's entries, captioned by kind."""
    return [(f"{table_dir}/{kind}_{p}.html", kind, p) for p in protocols for kind in table_kinds(calibrated)]


def agnostic_stems(columns: Iterable[tuple[str, str]]) -> list[str]:
    """File stems of the test-agnostic tables, one per (dataset, rho as in paths)."""
    return [f"test_agnostic_{dataset}_rho{rho}" for dataset, rho in sorted(set(columns))]


# The reference methods a grid is compared against by default, where it runs them: the baseline
# (CE) and the paper's full method (UniMix+Bayias), the one to beat (`compare_to` overrides).
DEFAULT_REFERENCES = ("ce", "unimix_bayias")


def references(methods: Sequence[str], configured: Sequence[str] | None = None) -> list[str]:
    """The grid's `compare_to` if set, else the default references the grid runs."""
    if configured:
        return list(configured)
    return [m for m in DEFAULT_REFERENCES if m in methods]


def comparison_stems(refs: Sequence[str], protocols: Sequence[str]) -> list[str]:
    return [f"compare_{ref}_{protocol}" for ref in refs for protocol in protocols]
