"""Evaluation metrics for long-tailed recognition: accuracy, shot groups, calibration.

Pure numpy. The functions below return fractions in [0, 1]; only `compute_metrics`, which
writes metrics.json, converts accuracies, errors and calibration errors to percent, as the
paper's tables do (NLL and Brier stay raw). The calibration measures are
ltgrid.evaluate.calibration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ltgrid.evaluate.calibration import calibration_metrics
from ltgrid.evaluate.inputs import check_counts, check_labels, check_probs, json_list


def accuracy(probs_or_pred: Any, labels: Any) -> float:
    """Top-1 accuracy as a fraction. A 2-D input is scores (argmax, first index wins ties); 1-D is predictions."""
    s = np.asarray(probs_or_pred)
    if s.ndim == 2:
        if s.shape[1] == 0:
            raise ValueError(f"scores must have at least one class, got shape {s.shape}")
        pred = s.argmax(axis=1)
        num_classes = s.shape[1]
    elif s.ndim == 1:
        pred = s
        num_classes = None
    else:
        raise ValueError(f"probs_or_pred must be (N, C) scores or (N,) predictions, got shape {s.shape}")
    if pred.shape[0] == 0:
        raise ValueError("accuracy of zero samples is undefined")
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != pred.shape[0]:
        raise ValueError(f"labels must be 1-D with {pred.shape[0]} entries, got shape {y.shape}")
    if num_classes is not None:
        y = check_labels(y, pred.shape[0], num_classes)
    return float(np.mean(pred == y))


def per_class_accuracy(pred: Any, labels: Any, num_classes: int) -> np.ndarray:
    """Accuracy of each class as a fraction; NaN for a class with no test sample (undefined, not 0)."""
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    num_classes = int(num_classes)
    p = np.asarray(pred)
    if p.ndim != 1:
        raise ValueError(f"pred must be a 1-D array of class ids, got shape {p.shape}")
    y = check_labels(labels, p.shape[0], num_classes)
    total = np.bincount(y, minlength=num_classes).astype(np.float64)
    hits = np.bincount(y[p == y], minlength=num_classes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, hits / np.maximum(total, 1), np.nan)


def shot_groups(train_counts: Any, many: int = 100, few: int = 20) -> dict[str, np.ndarray]:
    """Standard many/medium/few-shot class groups from training counts n_c.

    many: n_c > many; medium: few <= n_c <= many; few: n_c < few. With the defaults a class
    with exactly 100 images is medium and one with exactly 20 is medium too.
    """
    if few > many:
        raise ValueError(f"few threshold ({few}) must not exceed many threshold ({many})")
    n = check_counts(train_counts)
    return {
        "many": np.flatnonzero(n > many),
        "medium": np.flatnonzero((n >= few) & (n <= many)),
        "few": np.flatnonzero(n < few),
    }


# The authors' configs give class boundaries for CIFAR-10 and CIFAR-100; every other class count
# follows the CIFAR-100 rule (floor(C/3), floor(2C/3)).
AUTHORS_THIRDS = {10: (3, 7), 100: (33, 66)}


def thirds_bounds(num_classes: int) -> tuple[int, int]:
    """Where medium and tail start: the authors' (3, 7) for C = 10, else (floor(C/3), floor(2C/3))
    (their (33, 66) for C = 100; e.g. (333, 666) for 1000)."""
    c = int(num_classes)
    return AUTHORS_THIRDS.get(c, (c // 3, 2 * c // 3))


def thirds_groups(num_classes: int) -> dict[str, np.ndarray]:
    """Head / medium / tail thirds by class index (class 0 is the head), as the authors' configs:
    C=10: [0,3), [3,7), [7,10); C=100: [0,33), [33,66), [66,100); other C: see `thirds_bounds`."""
    if int(num_classes) != num_classes or num_classes < 3:
        raise ValueError(f"thirds_groups needs an integer num_classes >= 3, got {num_classes!r}")
    b1, b2 = thirds_bounds(num_classes)
    ids = np.arange(int(num_classes))
    return {"head": ids[:b1], "medium": ids[b1:b2], "tail": ids[b2:]}


def shot_accuracy(per_class_acc: Any, groups: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Mean per-class accuracy within each group; None for a group with no class (or no tested class)."""
    acc = np.asarray(per_class_acc, dtype=np.float64)
    if acc.ndim != 1:
        raise ValueError(f"per_class_acc must be 1-D, got shape {acc.shape}")
    out: dict[str, float | None] = {}
    for name, ids in groups.items():
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= acc.size):
            raise ValueError(f"group {name!r} has class id {int(ids.max())} outside [0, {acc.size})")
        vals = acc[ids]
        vals = vals[~np.isnan(vals)]
        out[name] = float(vals.mean()) if vals.size else None
    return out


def _pct(x: float | None) -> float | None:
    return None if x is None else 100.0 * float(x)


def compute_metrics(
    probs: Any,
    labels: Any,
    train_counts: Any,
    many: int = 100,
    few: int = 20,
    n_bins: int = 15,
) -> dict[str, Any]:
    """All metrics of one evaluation, JSON-ready (plain floats, lists, None for undefined).

    Percent: top1_acc, top1_err, many/medium/few_acc, thirds_*_acc, per_class_acc, mean_conf
    (mean top-1 probability), ece, mce.
    Raw: nll (nats), brier (0..2). Reliability bins (acc, conf, edges) are fractions, so a
    reliability diagram can be drawn from metrics.json alone. The thirds_* keys are present
    only when C >= 3.
    """
    p = check_probs(probs)
    y = check_labels(labels, p.shape[0], p.shape[1])
    counts = check_counts(train_counts)
    num_classes = p.shape[1]
    if counts.size != num_classes:
        raise ValueError(f"train_counts has {counts.size} classes but probs has {num_classes}")
    pred = p.argmax(axis=1)
    top1 = accuracy(pred, y)
    pca = per_class_accuracy(pred, y, num_classes)
    standard = shot_groups(counts, many=many, few=few)
    shots = shot_accuracy(pca, standard)
    out: dict[str, Any] = {
        "num_samples": int(p.shape[0]),
        "num_classes": int(num_classes),
        "top1_acc": 100.0 * top1,
        "top1_err": 100.0 * (1.0 - top1),
        "many_acc": _pct(shots["many"]),
        "medium_acc": _pct(shots["medium"]),
        "few_acc": _pct(shots["few"]),
        "n_classes_many": int(standard["many"].size),
        "n_classes_medium": int(standard["medium"].size),
        "n_classes_few": int(standard["few"].size),
        "shot_thresholds": {"many": int(many), "few": int(few), "rule": "many: n > many; medium: few <= n <= many; few: n < few"},
        "per_class_acc": json_list(pca, 100.0),
    }
    if num_classes >= 3:
        thirds = thirds_groups(num_classes)
        tacc = shot_accuracy(pca, thirds)
        for name in ("head", "medium", "tail"):
            out[f"thirds_{name}_acc"] = _pct(tacc[name])
            out[f"n_classes_thirds_{name}"] = int(thirds[name].size)
    out.update(calibration_metrics(p, pred, y, n_bins))
    return out
