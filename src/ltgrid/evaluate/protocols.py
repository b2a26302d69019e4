"""Model-selection protocols and the scalar metrics each carries: named once for evaluation,
tracking, tables and the workflow (plain data, so the Snakefile can read it without numpy)."""

from __future__ import annotations

PROTOCOLS = {
    "final": "final epoch",
    "best_val": "best epoch on the validation split",
    "best_test": "best epoch on the TEST set (authors' protocol; optimistic, for comparison only)",
}

# calibration metrics recomputed after temperature scaling on the validation split (ts_*)
TS_KEYS = ("ece", "mce", "nll", "brier", "mean_conf")

SCALAR_KEYS = (
    "top1_acc", "top1_err", "many_acc", "medium_acc", "few_acc", "mean_conf", "ece", "mce", "nll", "brier",
    "thirds_head_acc", "thirds_medium_acc", "thirds_tail_acc",
    "n_classes_many", "n_classes_medium", "n_classes_few",
    "n_classes_thirds_head", "n_classes_thirds_medium", "n_classes_thirds_tail",
    "ts_temperature", *(f"ts_{k}" for k in TS_KEYS),
)
