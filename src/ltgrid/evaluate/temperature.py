"""Temperature scaling (Guo et al. 2017): one scalar T > 0 fitted post hoc on held-out logits.

softmax(z / T) keeps every prediction (argmax is unchanged) and only rescales confidence.
T minimises the mean NLL on the held-out set. In beta = 1/T the NLL,
mean_i [logsumexp(beta z_i) - beta z_{i,y_i}], is convex with derivative
mean_i [E_{p_beta}(z_i) - z_{i,y_i}] and second derivative mean_i Var_{p_beta}(z_i) >= 0,
so Newton's method from beta = 1, with backtracking so the NLL never rises, finds the global minimum.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BETA_MIN, BETA_MAX = 1e-4, 1e4
MAX_STEPS = 100
TOLERANCE = 1e-10


def _moments(z: np.ndarray, y: np.ndarray, beta: float) -> tuple[float, float, float]:
    """NLL, its first and second derivative in beta, at beta."""
    s = beta * z
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    log_p_y = np.log(np.maximum(p[rows, y], 1e-300))
    mean_z = (p * z).sum(axis=1)
    var_z = (p * z * z).sum(axis=1) - mean_z**2
    return float(-log_p_y.mean()), float((mean_z - z[rows, y]).mean()), float(np.maximum(var_z, 0).mean())


def fit_temperature(logits: Any, labels: Any) -> float:
    """The T minimising NLL(softmax(logits / T), labels) over T in [1e-4, 1e4]."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if z.ndim != 2 or len(z) == 0 or y.shape != (len(z),):
        raise ValueError(f"temperature scaling needs (N, C) logits and N labels, got {z.shape} and {y.shape}")
    if not np.isfinite(z).all():
        raise ValueError("temperature scaling: the held-out logits are not all finite")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"temperature scaling: labels outside [0, {z.shape[1]})")
    beta = 1.0
    value, grad, curv = _moments(z, y, beta)
    for _ in range(MAX_STEPS):
        if curv <= 0 or abs(grad) <= TOLERANCE:  # curv 0: every row's logits equal, T does not matter
            break
        step = grad / curv
        for _ in range(60):  # backtrack until the NLL does not rise: Newton on a convex function converges
            new = min(max(beta - step, beta / 10, BETA_MIN), beta * 10, BETA_MAX)
            new_value, new_grad, new_curv = _moments(z, y, new)
            if new_value <= value + 1e-15:
                break
            step /= 2
        if abs(new - beta) <= TOLERANCE * beta:
            beta = new
            break
        beta, value, grad, curv = new, new_value, new_grad, new_curv
    return 1.0 / beta


def scaled(logits: Any, temperature: float) -> np.ndarray:
    """z / T (T > 0)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    return np.asarray(logits, dtype=np.float64) / float(temperature)
