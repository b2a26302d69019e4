"""Temperature scaling against its closed form, and tau-norm's tau chosen on a validation split."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ltgrid.evaluate.cell import temperature_scaled
from ltgrid.evaluate.temperature import fit_temperature, scaled
from ltgrid.methods.stage2 import Stage2Spec, select_tau, tau_grid, tau_normalize


def test_temperature_closed_form_two_classes() -> None:
    """Logits (1, 0) on every sample, 3 of 4 labelled class 0: the NLL is least where
    sigmoid(1 / T) = 3/4, i.e. T = 1 / ln 3."""
    z = np.array([[1.0, 0.0]] * 4)
    assert fit_temperature(z, [0, 0, 0, 1]) == pytest.approx(1 / math.log(3), rel=1e-9)
    # scaled logits (2, 0) -> T doubles: z / T is what is fitted
    assert fit_temperature(2 * z, [0, 0, 0, 1]) == pytest.approx(2 / math.log(3), rel=1e-9)


def test_temperature_overconfident_model_gets_t_above_one() -> None:
    """Confidence sigmoid(5) = 0.993 but only 60% right: T > 1 softens it to the empirical 0.6."""
    z = np.array([[5.0, 0.0]] * 10)
    y = [0] * 6 + [1] * 4
    t = fit_temperature(z, y)
    assert t == pytest.approx(5 / math.log(1.5), rel=1e-9) and t > 1
    p = np.exp(scaled(z, t))[:, 0] / np.exp(scaled(z, t)).sum(axis=1)
    assert p == pytest.approx(0.6)


def test_temperature_errors() -> None:
    with pytest.raises(ValueError, match="labels outside"):
        fit_temperature([[1.0, 0.0]], [2])
    with pytest.raises(ValueError, match="not all finite"):
        fit_temperature([[np.inf, 0.0]], [0])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        scaled([[1.0]], 0.0)


def test_temperature_scaled_block_keeps_accuracy_and_lowers_val_fitted_nll() -> None:
    z = np.array([[5.0, 0.0]] * 10)
    y = np.array([0] * 6 + [1] * 4)
    out = temperature_scaled(z, z, y, y, np.array([10, 5]))
    assert out["ts_temperature"] == pytest.approx(5 / math.log(1.5), rel=1e-9)
    assert out["ts_nll"] == pytest.approx(-(0.6 * math.log(0.6) + 0.4 * math.log(0.4)), rel=1e-9)
    assert out["ts_ece"] == pytest.approx(0.0, abs=1e-9)  # one bin, conf 0.6 = acc 0.6


def test_tau_grid_and_selection_by_hand() -> None:
    assert tau_grid([0.0, 2.0, 0.5]) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert len(tau_grid([0.0, 2.0, 0.1])) == 21 and tau_grid([0.0, 2.0, 0.1])[3] == 0.3
    w = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    seen = []

    def val_acc(weight: torch.Tensor) -> float:  # pretend accuracy peaks where row 0's norm is 5^(1-tau) = 1
        seen.append(weight.clone())
        return -abs(float(weight[0].norm()) - 1.0)

    tau, scores = select_tau(w, [0.0, 0.5, 1.0, 1.5], val_acc)
    assert tau == 1.0 and len(scores) == 4 and scores[2] == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(seen[1], tau_normalize(w, 0.5))
    assert select_tau(w, [0.0, 1.0], lambda _: 1.0)[0] == 0.0  # ties: the first


def test_stage2_tau_range_default_and_errors() -> None:
    assert Stage2Spec(kind="tau_norm").tau_range == [0.0, 2.0, 0.1]
    assert Stage2Spec(kind="tau_norm", tau_range=None).tau_range is None
    with pytest.raises(ValueError, match="tau_range"):
        Stage2Spec(kind="tau_norm", tau_range=[1.0, 0.0, 0.1])
