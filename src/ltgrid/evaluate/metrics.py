"""Evaluation metrics for long-tailed recognition: accuracy, shot groups, calibration.

Pure numpy. The functions below return fractions in [0, 1]; only `compute_metrics`, which
writes metrics.json, converts accuracies, errors and calibration errors to percent, as the
paper's tables do (NLL and Brier stay raw). Calibration follows the paper: 15 equal-width
confidence bins, bin k holding confidences in (b_{k-1}, b_k]; beside ECE and MCE, the classwise
ECE (every class's probability, same bins), the adaptive ECE (15 equal-mass bins) and the
over-confidence error (the ECE's bins, over-confident ones only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

BIN_CONVENTION = "equal-width, (b_{k-1}, b_k]"
ADAPTIVE_CONVENTION = "equal-mass: sorted top-1 confidences cut by rank into runs of floor(N/B) or ceil(N/B)"
CLASSWISE_CONVENTION = "every class's p_k of every sample in the equal-width bins, mean over classes"
NLL_EPS = 1e-12
PROB_SUM_ATOL = 1e-3


# ---------------------------------------------------------------- validation


def _check_probs(probs: Any) -> np.ndarray:
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


def _check_labels(labels: Any, n: int, num_classes: int) -> np.ndarray:
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


def _check_counts(train_counts: Any) -> np.ndarray:
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


# ---------------------------------------------------------------- accuracy


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
        y = _check_labels(y, pred.shape[0], num_classes)
    return float(np.mean(pred == y))


def per_class_accuracy(pred: Any, labels: Any, num_classes: int) -> np.ndarray:
    """Accuracy of each class as a fraction; NaN for a class with no test sample (undefined, not 0)."""
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    num_classes = int(num_classes)
    p = np.asarray(pred)
    if p.ndim != 1:
        raise ValueError(f"pred must be a 1-D array of class ids, got shape {p.shape}")
    y = _check_labels(labels, p.shape[0], num_classes)
    total = np.bincount(y, minlength=num_classes).astype(np.float64)
    hits = np.bincount(y[p == y], minlength=num_classes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, hits / np.maximum(total, 1), np.nan)


# ---------------------------------------------------------------- class groups


def shot_groups(train_counts: Any, many: int = 100, few: int = 20) -> dict[str, np.ndarray]:
    """Standard many/medium/few-shot class groups from training counts n_c.

    many: n_c > many; medium: few <= n_c <= many; few: n_c < few. With the defaults a class
    with exactly 100 images is medium and one with exactly 20 is medium too.
    """
    if few > many:
        raise ValueError(f"few threshold ({few}) must not exceed many threshold ({many})")
    n = _check_counts(train_counts)
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


# ---------------------------------------------------------------- calibration


def _check_n_bins(n_bins: Any) -> int:
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def _confidence_arrays(confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) as float arrays: 1-D, non-empty, the same shape, confidences in [0, 1], correct 0/1."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct)
    if conf.ndim != 1 or conf.size == 0:
        raise ValueError(f"confidence must be a non-empty 1-D array, got shape {conf.shape}")
    if ok.shape != conf.shape:
        raise ValueError(f"correct has shape {ok.shape} but confidence has shape {conf.shape}")
    bad = ~np.isfinite(conf) | (conf < 0) | (conf > 1)
    if bad.any():
        raise ValueError(f"confidence must lie in [0, 1]; got {conf[bad][0].item()!r} at index {int(np.flatnonzero(bad)[0])}")
    if not np.all((ok == 0) | (ok == 1)):
        raise ValueError(f"correct must be boolean or 0/1, got {ok[(ok != 0) & (ok != 1)][0].item()!r}")
    return conf, ok.astype(np.float64)


def calibration_bins(confidence: Any, correct: Any, n_bins: int = 15) -> dict[str, Any]:
    """Equal-width reliability bins over [0, 1]; bin k holds confidences in (b_{k-1}, b_k].

    A confidence exactly 0 has no half-open bin and is put in the first one. Returns counts,
    accuracy and mean confidence per bin (NaN where a bin is empty) and the n_bins+1 edges.
    """
    n_bins = _check_n_bins(n_bins)
    conf, ok = _confidence_arrays(confidence, correct)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left": a value equal to edges[k] gets index k, so bin k-1, i.e. (b_{k-1}, b_k].
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    sum_ok = np.bincount(idx, weights=ok, minlength=n_bins)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(counts > 0, sum_ok / np.maximum(counts, 1), np.nan)
        mean_conf = np.where(counts > 0, sum_conf / np.maximum(counts, 1), np.nan)
    return {"n_bins": n_bins, "counts": counts, "acc": acc, "conf": mean_conf, "edges": edges}


def nan_array(values: Any) -> np.ndarray:
    """A JSON list with None for undefined entries (metrics.json's convention) as floats with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def bin_arrays(bins: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """counts, acc, conf from a bins dict (numpy with NaN, or JSON with None for empty bins)."""
    for key in ("counts", "acc", "conf"):
        if key not in bins:
            raise ValueError(f"bins dict lacks {key!r}; got keys {sorted(bins)}")
    counts = np.asarray(bins["counts"], dtype=np.float64)
    acc, conf = nan_array(bins["acc"]), nan_array(bins["conf"])
    if not counts.shape == acc.shape == conf.shape or counts.ndim != 1:
        raise ValueError(f"bins counts/acc/conf shapes differ: {counts.shape}, {acc.shape}, {conf.shape}")
    if counts.sum() <= 0:
        raise ValueError("bins hold no sample; ECE/MCE are undefined")
    return counts, acc, conf


def ece(bins: dict[str, Any]) -> float:
    """Expected calibration error, a fraction: sum_k |B_k|/N * |acc_k - conf_k| (empty bins add 0)."""
    counts, acc, conf = bin_arrays(bins)
    full = counts > 0
    return float(np.sum(counts[full] / counts.sum() * np.abs(acc[full] - conf[full])))


def mce(bins: dict[str, Any]) -> float:
    """Maximum calibration error, a fraction: max over non-empty bins of |acc_k - conf_k|."""
    counts, acc, conf = bin_arrays(bins)
    full = counts > 0
    return float(np.max(np.abs(acc[full] - conf[full])))


def overconfidence_error(bins: dict[str, Any]) -> float:
    """Over-confidence error (Thulasidasan et al. 2019), a fraction: sum_k |B_k|/N * conf_k *
    max(conf_k - acc_k, 0) over the ECE's bins; only bins more confident than accurate count."""
    counts, acc, conf = bin_arrays(bins)
    full = counts > 0
    gap = np.maximum(conf[full] - acc[full], 0.0)
    return float(np.sum(counts[full] / counts.sum() * conf[full] * gap))


def classwise_ece(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """Classwise ECE (Kull et al. 2019; Nixon et al.'s static calibration error), a fraction:
    (1/K) sum_k sum_b |B_bk|/N * |acc_bk - conf_bk|. For each class k every sample's p_k is binned
    (not only top-1 ones) in the ECE's equal-width bins; acc_bk is the share of bin b's samples of
    class k, conf_bk their mean p_k. So each class is a one-vs-rest ECE, averaged with equal weight."""
    p = _check_probs(probs)
    y = _check_labels(labels, p.shape[0], p.shape[1])
    return float(np.mean([ece(calibration_bins(p[:, k], y == k, n_bins)) for k in range(p.shape[1])]))


def adaptive_bins(confidence: Any, correct: Any, n_bins: int = 15) -> dict[str, Any]:
    """Equal-mass reliability bins: confidences sorted (ties kept in sample order) and cut into n_bins
    runs of floor(N/n_bins) or ceil(N/n_bins) samples, the larger first (np.array_split). Rank-based,
    so every sample is in exactly one bin whatever the ties; with N < n_bins some bins are empty."""
    n_bins = _check_n_bins(n_bins)
    conf, ok = _confidence_arrays(confidence, correct)
    runs = np.array_split(np.argsort(conf, kind="stable"), n_bins)
    counts = np.array([len(r) for r in runs])
    acc = np.array([ok[r].mean() if len(r) else np.nan for r in runs])
    mean_conf = np.array([conf[r].mean() if len(r) else np.nan for r in runs])
    return {"n_bins": n_bins, "counts": counts, "acc": acc, "conf": mean_conf}


def adaptive_ece(confidence: Any, correct: Any, n_bins: int = 15) -> float:
    """Adaptive (equal-mass) ECE (Nixon et al. 2019; Mukhoti et al. 2020's AdaECE), a fraction: the
    top-label ECE, sum_b |B_b|/N * |acc_b - conf_b|, over `adaptive_bins` instead of equal widths."""
    return ece(adaptive_bins(confidence, correct, n_bins))


def nll(probs: Any, labels: Any) -> float:
    """Mean negative log-likelihood of the true class, nats; p_y is clipped below at 1e-12 so a
    confident miss costs about 27.6 instead of infinity."""
    p = _check_probs(probs)
    y = _check_labels(labels, p.shape[0], p.shape[1])
    return float(np.mean(-np.log(np.maximum(p[np.arange(p.shape[0]), y], NLL_EPS))))


def brier(probs: Any, labels: Any) -> float:
    """Multi-class Brier score: mean over samples of sum_c (p_c - onehot_c)^2, in [0, 2] (not divided by C)."""
    p = _check_probs(probs)
    y = _check_labels(labels, p.shape[0], p.shape[1])
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


# ---------------------------------------------------------------- metrics.json


def _pct(x: float | None) -> float | None:
    return None if x is None else 100.0 * float(x)


def _json_list(a: np.ndarray, scale: float = 1.0) -> list[float | None]:
    return [None if np.isnan(v) else float(v) * scale for v in np.asarray(a, dtype=np.float64)]


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
    p = _check_probs(probs)
    y = _check_labels(labels, p.shape[0], p.shape[1])
    counts = _check_counts(train_counts)
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
        "per_class_acc": _json_list(pca, 100.0),
    }
    if num_classes >= 3:
        thirds = thirds_groups(num_classes)
        tacc = shot_accuracy(pca, thirds)
        for name in ("head", "medium", "tail"):
            out[f"thirds_{name}_acc"] = _pct(tacc[name])
            out[f"n_classes_thirds_{name}"] = int(thirds[name].size)
    out.update(_calibration(p, pred, y, n_bins))
    return out


def _calibration(p: np.ndarray, pred: np.ndarray, y: np.ndarray, n_bins: int) -> dict[str, Any]:
    """compute_metrics' calibration keys: mean confidence, ECE/MCE, NLL, Brier, the reliability bins."""
    bins = calibration_bins(p.max(axis=1), pred == y, n_bins=n_bins)
    return {
        # with top1_acc, says which way a miscalibrated model errs (over- or underconfident)
        "mean_conf": 100.0 * float(np.mean(p.max(axis=1))),
        "ece": 100.0 * ece(bins),
        "mce": 100.0 * mce(bins),
        "classwise_ece": 100.0 * classwise_ece(p, y, n_bins),
        "adaptive_ece": 100.0 * adaptive_ece(p.max(axis=1), pred == y, n_bins),
        "oe": 100.0 * overconfidence_error(bins),
        "nll": nll(p, y),
        "brier": brier(p, y),
        "ece_bins": {"n_bins": int(n_bins), "convention": BIN_CONVENTION,
                     "adaptive": ADAPTIVE_CONVENTION, "classwise": CLASSWISE_CONVENTION},
        "reliability": {
            "n_bins": int(n_bins),
            "counts": [int(c) for c in bins["counts"]],
            "acc": _json_list(bins["acc"]),
            "conf": _json_list(bins["conf"]),
            "edges": [float(e) for e in bins["edges"]],
            "units": "fraction",
        },
        "units": {
            "percent": ["top1_acc", "top1_err", "many_acc", "medium_acc", "few_acc", "thirds_*_acc", "per_class_acc", "mean_conf", "ece", "mce",
                        "classwise_ece", "adaptive_ece", "oe"],
            "raw": ["nll (nats)", "brier (sum over classes, 0..2)", "reliability (fractions)"],
        },
    }
