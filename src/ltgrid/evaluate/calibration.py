"""Calibration, as the paper measures it: 15 equal-width confidence bins, bin k holding
confidences in (b_{k-1}, b_k]; beside ECE and MCE, the classwise ECE (every class's probability,
same bins), the adaptive ECE (15 equal-mass bins), the over-confidence error (the ECE's bins,
over-confident ones only), NLL and Brier. Pure numpy; fractions, except `calibration_metrics`
(metrics.json's keys, in percent)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ltgrid.evaluate.inputs import check_labels, check_probs, json_list


BIN_CONVENTION = "equal-width, (b_{k-1}, b_k]"


ADAPTIVE_CONVENTION = "equal-mass: sorted top-1 confidences cut by rank into runs of floor(N/B) or ceil(N/B)"


CLASSWISE_CONVENTION = "every class's p_k of every sample in the equal-width bins, mean over classes"


NLL_EPS = 1e-12


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
    p = check_probs(probs)
    y = check_labels(labels, p.shape[0], p.shape[1])
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
    p = check_probs(probs)
    y = check_labels(labels, p.shape[0], p.shape[1])
    return float(np.mean(-np.log(np.maximum(p[np.arange(p.shape[0]), y], NLL_EPS))))


def brier(probs: Any, labels: Any) -> float:
    """Multi-class Brier score: mean over samples of sum_c (p_c - onehot_c)^2, in [0, 2] (not divided by C)."""
    p = check_probs(probs)
    y = check_labels(labels, p.shape[0], p.shape[1])
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def calibration_metrics(p: np.ndarray, pred: np.ndarray, y: np.ndarray, n_bins: int) -> dict[str, Any]:
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
            "acc": json_list(bins["acc"]),
            "conf": json_list(bins["conf"]),
            "edges": [float(e) for e in bins["edges"]],
            "units": "fraction",
        },
        "units": {
            "percent": ["top1_acc", "top1_err", "many_acc", "medium_acc", "few_acc", "thirds_*_acc", "per_class_acc", "mean_conf", "ece", "mce",
                        "classwise_ece", "adaptive_ece", "oe"],
            "raw": ["nll (nats)", "brier (sum over classes, 0..2)", "reliability (fractions)"],
        },
    }
