"""Mixing rules against their equations, plus statistical checks of UniMix's draws.

Statistical tolerances use the DKW inequality: with n draws, P(sup |F_n - F| > eps)
<= 2 exp(-2 n eps^2); n = 20,000 and eps = 0.015 give < 3e-4 (the seeds are fixed, so
the tests are deterministic; the bound says the tolerance is not tuned to the seed).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from ltgrid.methods import MIXINGS, MixedBatch
from ltgrid.methods.mixing import mixup_factors, remix_label_weight, unimix_factor, unimix_partner_probs, unimix_xi

COUNTS = torch.tensor([100.0, 10.0, 1.0])
N_DRAWS = 20_000
EPS = 0.015


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def one_hot_batch(y: torch.Tensor) -> torch.Tensor:
    """x_i = e_i, so a mixed row reveals its factor and partner."""
    return torch.eye(len(y)).view(len(y), len(y), 1, 1)


def partners_of(batch: MixedBatch) -> torch.Tensor:
    """Recover j from x~_i = lam_i e_i + (1 - lam_i) e_j (valid where lam_i < 1)."""
    rows = batch.x.flatten(1) - torch.diag(batch.lam)
    return rows.argmax(dim=1)


def test_none_leaves_the_batch_alone() -> None:
    x, y = torch.randn(4, 1, 2, 2), torch.tensor([0, 1, 2, 0])
    mb = MIXINGS.build("none", class_counts=COUNTS)(x, y, gen())
    assert torch.equal(mb.x, x) and torch.equal(mb.y_b, y) and torch.equal(mb.lam, torch.ones(4))


@pytest.mark.parametrize("name", ["mixup", "remix", "unimix"])
def test_mixed_image_is_factor_blend_of_the_pair_and_seeded(name: str) -> None:
    y = torch.tensor([0, 0, 0, 1, 1, 2, 0, 1])
    x = one_hot_batch(y)
    rule = MIXINGS.build(name, class_counts=COUNTS)
    mb = rule(x, y, gen(3))
    again = rule(x, y, gen(3))
    assert torch.equal(mb.x, again.x) and torch.equal(mb.lam, again.lam)
    assert mb.x.shape == x.shape and mb.lam.dtype == x.dtype
    j = partners_of(mb)
    factor = mb.x.flatten(1).diagonal()  # image factor of x_i (covers self-pairs: then 1)
    rebuilt = factor[:, None] * torch.eye(8) + (1 - factor[:, None]) * torch.eye(8)[j]
    rebuilt[j == torch.arange(8)] = torch.eye(8)[j == torch.arange(8)]
    assert torch.allclose(mb.x.flatten(1), rebuilt, atol=1e-6)
    assert torch.equal(mb.y_a, y) and torch.equal(mb.y_b, y[j])


def test_mixup_label_weight_is_its_image_factor_and_uniform_at_alpha_one() -> None:
    y = torch.zeros(N_DRAWS, dtype=torch.long)
    mb = MIXINGS.build("mixup", class_counts=COUNTS, alpha=1.0, per="sample")(torch.zeros(N_DRAWS, 1), y, gen())
    assert stats.kstest(mb.lam.numpy(), "uniform").statistic < EPS


def test_mixup_draws_one_factor_per_batch_as_its_authors() -> None:
    """Zhang et al.'s and MiSLAS's mixup_data: one lam ~ Beta(alpha, alpha) per batch (the
    default); per sample as an option. Same marginal: over 20,000 batches the factors are
    Beta(0.4, 0.4); within a batch the spread is 0 (per batch) or not (per sample)."""
    y = torch.tensor([0, 0, 0, 1, 1, 2, 0, 1])
    rule = MIXINGS.build("mixup", class_counts=COUNTS, alpha=0.4)
    assert rule.per == "batch"
    mb = rule(torch.randn(8, 1, 2, 2), y, gen(4))
    assert torch.all(mb.lam == mb.lam[0]) and torch.all(mb.x.new_tensor(0.0) <= mb.lam)
    per_sample = MIXINGS.build("mixup", class_counts=COUNTS, alpha=0.4, per="sample")(torch.randn(8, 1), y, gen(4))
    assert per_sample.lam.std() > 0
    g = gen(5)
    draws = torch.stack([mixup_factors(4, 0.4, "batch", g) for _ in range(N_DRAWS)])
    assert torch.all(draws == draws[:, :1])
    assert stats.kstest(draws[:, 0].numpy(), stats.beta(0.4, 0.4).cdf).statistic < EPS


def test_remix_label_weight_rules_by_hand() -> None:
    lam = torch.tensor([0.3, 0.3, 0.8, 0.8, 0.3, 0.6], dtype=torch.float64)
    n_i = torch.tensor([100.0, 100.0, 10.0, 10.0, 20.0, 100.0], dtype=torch.float64)
    n_j = torch.tensor([10.0, 10.0, 100.0, 100.0, 10.0, 10.0], dtype=torch.float64)
    # 1: head i, lam < tau -> 0;  3: tail i, 1-lam < tau -> 1;  5: ratio 2 < kappa -> lam;  6: lam >= tau -> lam
    want = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.3, 0.6], dtype=torch.float64)
    assert torch.allclose(remix_label_weight(lam, n_i, n_j, kappa=3.0, tau=0.5), want)


def test_remix_uses_mixup_images_and_rule_labels() -> None:
    y = torch.tensor([0, 2, 0, 2, 1, 0, 2, 1])
    mb = MIXINGS.build("remix", class_counts=COUNTS, alpha=1.0)(one_hot_batch(y), y, gen(1))
    image_factor = mb.x.flatten(1).diagonal()
    j = partners_of(MixedBatch(mb.x, mb.y_a, mb.y_b, image_factor))
    want = remix_label_weight(image_factor.double(), COUNTS[y].double(), COUNTS[y[j]].double(), 3.0, 0.5)
    keep = j != torch.arange(8)
    assert torch.allclose(mb.lam[keep].double(), want[keep], atol=1e-6)


def test_unimix_xi_and_factor_by_hand() -> None:
    assert unimix_xi(torch.tensor(100.0), torch.tensor(10.0)).item() == pytest.approx(10 / 110)
    xi, b = torch.tensor([0.9, 0.9, 0.2]), torch.tensor([0.3, 0.9, 0.1])
    assert torch.allclose(unimix_factor(xi, b, "wrap"), torch.tensor([0.2, 0.8, 0.3]))
    assert torch.allclose(unimix_factor(xi, b, "clip"), torch.tensor([0.7, 1.0, 0.0]))
    probs = unimix_partner_probs(torch.tensor([100.0, 1.0]), -0.5)  # [0.1, 1] normalised
    assert torch.allclose(probs, torch.tensor([1 / 11, 10 / 11], dtype=torch.float64))


def test_unimix_alpha_one_tau_zero_is_uniform_partners_and_uniform_factors() -> None:
    y = torch.tensor([0] * 10 + [1] * 6 + [2] * 4).repeat(N_DRAWS // 20)
    mb = MIXINGS.build("unimix", class_counts=COUNTS, alpha=1.0, tau=0.0)(torch.zeros(len(y), 1), y, gen())
    # (xi + U) mod 1 is uniform whatever xi
    assert stats.kstest(mb.lam.numpy(), "uniform").statistic < EPS
    freq = torch.bincount(mb.y_b, minlength=3).double() / len(y)
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), atol=EPS)


def wrapped_beta_cdf(t: np.ndarray, xi: np.ndarray, alpha: float) -> np.ndarray:
    """P((xi + b) mod 1 <= t), b ~ Beta(alpha, alpha): b in [0, t - xi] or [1 - xi, 1 - xi + t]."""
    F = stats.beta(alpha, alpha).cdf
    return F(np.clip(t - xi, 0, 1)) + F(np.clip(1 - xi + t, 0, 1)) - F(1 - xi)


def test_unimix_partner_classes_and_factors_follow_their_formulas() -> None:
    alpha, tau = 0.8, -0.5
    y = torch.tensor([0] * 12 + [1] * 5 + [2] * 3).repeat(N_DRAWS // 20)
    mb = MIXINGS.build("unimix", class_counts=COUNTS, alpha=alpha, tau=tau)(torch.zeros(len(y), 1), y, gen(7))
    # partner class c drawn with prob (#c in batch) n_c^tau / sum_j n_{y_j}^tau
    in_batch = torch.tensor([12.0, 5.0, 3.0], dtype=torch.float64)
    want = in_batch * COUNTS.double() ** tau
    want = want / want.sum()
    freq = torch.bincount(mb.y_b, minlength=3).double() / len(y)
    assert torch.allclose(freq, want, atol=EPS), (freq, want)
    # factor: mixture over samples of the wrapped Beta around each sample's xi_ij
    xi = unimix_xi(COUNTS[mb.y_a].double(), COUNTS[mb.y_b].double()).numpy()
    lam = np.sort(mb.lam.double().numpy())
    grid = np.linspace(0, 1, 201)
    model = np.array([wrapped_beta_cdf(t, xi, alpha).mean() for t in grid])
    empirical = np.searchsorted(lam, grid, side="right") / len(lam)
    assert np.abs(empirical - model).max() < EPS


def test_unimix_tau_minus_one_is_class_balanced_on_a_batch_that_follows_the_prior() -> None:
    # batch composition proportional to n_c: class mass (#c) n_c^-1 is the same for every class
    y = torch.tensor([0] * 100 + [1] * 10 + [2] * 1).repeat(N_DRAWS // 111 + 1)
    mb = MIXINGS.build("unimix", class_counts=COUNTS, alpha=0.8, tau=-1.0)(torch.zeros(len(y), 1), y, gen())
    freq = torch.bincount(mb.y_b, minlength=3).double() / len(y)
    assert torch.allclose(freq, torch.full((3,), 1 / 3, dtype=torch.float64), atol=EPS), freq


def test_bad_mixing_arguments_fail_naming_the_value() -> None:
    with pytest.raises(ValueError, match="alpha"):
        MIXINGS.build("mixup", class_counts=COUNTS, alpha=0)
    with pytest.raises(ValueError, match="mixup per 'pair' is not one of batch, sample"):
        MIXINGS.build("mixup", class_counts=COUNTS, per="pair")
    with pytest.raises(ValueError, match="'spin'"):
        MIXINGS.build("unimix", class_counts=COUNTS, mode="spin")
    with pytest.raises(ValueError, match="kappa"):
        MIXINGS.build("remix", class_counts=COUNTS, kappa=0.5)
