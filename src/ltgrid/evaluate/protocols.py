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

# test-agnostic evaluation (Zhang et al. 2022; evaluate/test_agnostic.py): the final model on test
# sets re-sampled to these class distributions, in plotting order (name, direction, imbalance)
TEST_IMBALANCES = (50, 25, 10, 5, 2)
TEST_DISTRIBUTIONS = (
    *((f"forward{r}", "forward", r) for r in TEST_IMBALANCES),
    ("uniform", "uniform", 1),
    *((f"backward{r}", "backward", r) for r in reversed(TEST_IMBALANCES)),
)
# ta_<distribution>_top1_err, and for Bayias cells ta_<distribution>_prior_top1_err (test prior matched)
TA_KEYS = tuple(f"ta_{name}_{kind}top1_err" for name, _, _ in TEST_DISTRIBUTIONS for kind in ("", "prior_"))

SCALAR_KEYS = (
    "top1_acc", "top1_err", "train_acc", "many_acc", "medium_acc", "few_acc", "mean_conf", "ece", "mce", "nll", "brier",
    "classwise_ece", "adaptive_ece", "oe",
    "thirds_head_acc", "thirds_medium_acc", "thirds_tail_acc",
    "n_classes_many", "n_classes_medium", "n_classes_few",
    "n_classes_thirds_head", "n_classes_thirds_medium", "n_classes_thirds_tail",
    "ts_temperature", *(f"ts_{k}" for k in TS_KEYS), *TA_KEYS,
)
