"""Test-agnostic evaluation (Zhang et al. 2022): the same model scored on test sets re-sampled to
forward- and backward-long-tailed class distributions.

Test imbalance r in {50, 25, 10, 5, 2}: class c keeps floor(n * r^(-c/(C-1))) test images
(forward: class 0, the training head, is also the test head) or the reverse profile (backward:
class 0 is the test tail), n the smallest per-class count of the reported test set; `uniform`
is that test set itself. Which images: one numpy RandomState(0), class by class in class order,
shuffles the class's test indices and keeps the first n_c, so every method and seed of a
(dataset, split) is scored on the same images.

Bayias trains CE(z + log pi - log p_test, y) and predicts with z. A model trained for one test
prior p is, up to the classifier's bias, the model trained for another prior q with its logits
shifted by log q - log p: the loss only sees z + log pi - log p_test. So "Bayias with p_test
set to the matching prior" is scored post hoc as z + log q - log p, q the re-sampled test set's
class frequencies, p the prior the cell was trained with (uniform unless `test_prior`). BalPoE's
eval logits carry + log p_test (methods/losses/balpoe.py), so the same shift is its authors'
`--posthoc_bias_correction` on each re-sampled set (emasa/BalPoE-CalibratedLT test_all_cifar.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ltgrid.data.splits import lt_counts
from ltgrid.evaluate.protocols import TEST_DISTRIBUTIONS

RESAMPLE_SEED = 0


def distributions() -> list[tuple[str, str, int]]:
    """(name, direction, imbalance), in plotting order: forward 50 ... 2, uniform, backward 2 ... 50."""
    return list(TEST_DISTRIBUTIONS)


def distribution_counts(per_class: int, num_classes: int, imbalance: float, direction: str) -> list[int]:
    """Test images per class for one re-sampled distribution."""
    if direction not in ("forward", "backward", "uniform"):
        raise ValueError(f"test distribution direction must be forward, backward or uniform, got {direction!r}")
    counts = lt_counts(per_class, num_classes, 1.0 if direction == "uniform" else imbalance)
    return counts[::-1] if direction == "backward" else counts


def resample(test_labels: np.ndarray, counts: list[int], seed: int = RESAMPLE_SEED) -> np.ndarray:
    """Sorted test indices with counts[c] images of class c (seeded, class by class)."""
    y = np.asarray(test_labels)
    rng = np.random.RandomState(seed)
    keep = []
    for c, n in enumerate(counts):
        idx = np.flatnonzero(y == c)
        if n > len(idx):
            raise ValueError(f"test re-sampling asks {n} images of class {c}, which has {len(idx)}")
        rng.shuffle(idx)
        keep.append(idx[:n])
    return np.sort(np.concatenate(keep))


def trained_log_prior(method_spec: dict[str, Any], num_classes: int) -> np.ndarray | None:
    """log p_test a Bayias cell was trained for, or a BalPoE cell's eval logits were corrected to (uniform
    unless `test_prior`; either way the logits move to a prior q by log q - log p_test); None for other losses."""
    loss = method_spec.get("loss") or {}
    if loss.get("name") not in ("bayias", "balpoe"):
        return None
    p = np.asarray(loss.get("test_prior") or np.ones(num_classes), dtype=np.float64)
    return np.log(p / p.sum())


def top1_err(logits: np.ndarray, labels: np.ndarray) -> float:
    return 100.0 * float(np.mean(logits.argmax(axis=1) != labels))


def agnostic_metrics(logits: Any, labels: Any, log_p_train: np.ndarray | None = None) -> dict[str, float]:
    """ta_<distribution>_top1_err for every distribution; with `log_p_train` (a Bayias cell) also
    ta_<distribution>_prior_top1_err, the logits shifted to the re-sampled set's prior."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    num_classes = z.shape[1]
    per_class = int(np.bincount(y, minlength=num_classes).min())
    if per_class < 1:
        raise ValueError("test-agnostic evaluation needs every class in the test set")
    out: dict[str, float] = {}
    for name, direction, imbalance in distributions():
        counts = distribution_counts(per_class, num_classes, imbalance, direction)
        idx = resample(y, counts)
        out[f"ta_{name}_top1_err"] = top1_err(z[idx], y[idx])
        if log_p_train is not None:
            with np.errstate(divide="ignore"):  # a class with no test image is never predicted
                log_q = np.log(np.asarray(counts, dtype=np.float64) / sum(counts))
            out[f"ta_{name}_prior_top1_err"] = top1_err(z[idx] + log_q - log_p_train, y[idx])
    return out

