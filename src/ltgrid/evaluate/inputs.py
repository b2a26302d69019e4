"""What every metric checks of its inputs (probabilities, labels, class counts), so a bad array is
named before any arithmetic, and how arrays become JSON lists."""

from __future__ import annotations

from typing import Any

import numpy as np


PROB_SUM_ATOL = 1e-3


def check_probs(probs: Any) -> np.ndarray:
    """Return probs as a float (N, C) array; reject NaN, negatives and rows not summing to 1."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be a 2-D (N, C) array, got shape {p.shape}")
    if p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probs must have at least one sample and one class, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        row = int(np.flatnonzero(~np.isfinite(p).all(axis=1))[0])
        raise ValueError(f"probs has a non-finite value in row {row}: {p[row].tolist()}")
    if p.min() < 0:
        row = int(np.flatnonzero((p < 0).any(axis=1))[0])
        raise ValueError(f"probs has a negative value {float(p[row].min())} in row {row} - pass softmax outputs, not logits")
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > PROB_SUM_ATOL)
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"probs rows must sum to 1 (tolerance {PROB_SUM_ATOL}); row {row} sums to {float(sums[row])} "
            f"({bad.size} bad rows) - pass softmax outputs, not logits"
        )
    return p


def check_labels(labels: Any, n: int, num_classes: int) -> np.ndarray:
    """Return labels as an int (N,) array with every value in [0, num_classes)."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D array, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"labels has {y.shape[0]} entries but there are {n} predictions")
    if not np.issubdtype(y.dtype, np.integer) and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError(f"labels must be integers, got dtype {y.dtype} with value {y[np.mod(y, 1) != 0][0].item()!r}")
    y = y.astype(np.int64)
    out = (y < 0) | (y >= num_classes)
    if out.any():
        raise ValueError(f"label {int(y[out][0])} is out of range [0, {num_classes}) (at index {int(np.flatnonzero(out)[0])})")
    return y


def check_counts(train_counts: Any) -> np.ndarray:
    """Return train counts as a non-negative int (C,) array."""
    n = np.asarray(train_counts)
    if n.ndim != 1 or n.size == 0:
        raise ValueError(f"train_counts must be a non-empty 1-D array, got shape {n.shape}")
    if not np.issubdtype(n.dtype, np.integer) and not np.all(np.equal(np.mod(n, 1), 0)):
        raise ValueError(f"train_counts must be integers, got {n.tolist()}")
    n = n.astype(np.int64)
    if (n < 0).any():
        raise ValueError(f"train_counts must be >= 0, got {int(n[n < 0][0])} for class {int(np.flatnonzero(n < 0)[0])}")
    return n


def json_list(a: np.ndarray, scale: float = 1.0) -> list[float | None]:
    return [None if np.isnan(v) else float(v) * scale for v in np.asarray(a, dtype=np.float64)]
