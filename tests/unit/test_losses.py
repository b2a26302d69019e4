"""Each loss against its equation on hand-checkable inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ltgrid.methods import LOSSES, MixedBatch, build_method, mixed_loss
from ltgrid.methods.losses import LossOptions, build_loss, effective_number_weights, ldam_margins

COUNTS = torch.tensor([100.0, 10.0, 1.0])
LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0], [-0.5, -0.5, 0.2], [1.0, 2.0, 0.0]])
TARGET = torch.tensor([0, 2, 1, 1])


def manual_ce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -(z.gather(1, y[:, None]).squeeze(1) - torch.logsumexp(z, dim=1))


def test_ce_is_minus_log_softmax() -> None:
    loss = build_loss("ce", COUNTS)
    assert torch.allclose(loss(LOGITS, TARGET), manual_ce(LOGITS, TARGET))
    assert loss(LOGITS, TARGET).shape == (4,)


def test_focal_gamma_zero_is_ce() -> None:
    assert torch.allclose(build_loss("focal", COUNTS, gamma=0)(LOGITS, TARGET), manual_ce(LOGITS, TARGET))


def test_focal_hand_value() -> None:
    # p_y = 3/4 for logits [0, log 3], target 1: -(1 - 3/4)^2 log(3/4)
    z = torch.tensor([[0.0, math.log(3.0)]])
    value = build_loss("focal", torch.tensor([5.0, 5.0]), gamma=2)(z, torch.tensor([1]))
    assert value.item() == pytest.approx(-(0.25**2) * math.log(0.75), rel=1e-6)


def test_effective_number_weights_by_hand() -> None:
    # counts [1, 2], beta 1/2: raw [0.5/0.5, 0.5/0.75] = [1, 2/3]; sum to C=2 -> [6/5, 4/5]
    w = effective_number_weights(torch.tensor([1.0, 2.0]), 0.5)
    assert torch.allclose(w, torch.tensor([1.2, 0.8], dtype=torch.float64))
    assert torch.allclose(effective_number_weights(torch.tensor([1.0, 2.0]), 0.0), torch.ones(2, dtype=torch.float64))
    # beta = 1 is inverse frequency: [1, 1/2] -> [4/3, 2/3]
    assert torch.allclose(effective_number_weights(torch.tensor([1.0, 2.0]), 1.0),
                          torch.tensor([4 / 3, 2 / 3], dtype=torch.float64))
    assert effective_number_weights(COUNTS, 0.9999).sum().item() == pytest.approx(3.0)


def test_class_balanced_option_weights_each_sample_by_its_target() -> None:
    for name, extra in (("ce", {}), ("focal", {"gamma": 2.0})):
        plain = build_loss(name, COUNTS, **extra)(LOGITS, TARGET)
        weighted = build_loss(name, COUNTS, weighting="class_balanced", beta=0.99, **extra)(LOGITS, TARGET)
        w = effective_number_weights(COUNTS, 0.99).float()
        assert torch.allclose(weighted, plain * w[TARGET])


def test_weights_apply_to_both_labels_of_a_mixed_batch() -> None:
    loss = build_loss("ce", COUNTS, weighting="class_balanced", beta=0.9)
    w = effective_number_weights(COUNTS, 0.9).float()
    y_a, y_b, lam = torch.tensor([0, 1, 2, 2]), torch.tensor([2, 0, 1, 2]), torch.tensor([0.2, 0.5, 1.0, 0.7])
    got = mixed_loss(loss, LOGITS, MixedBatch(LOGITS, y_a, y_b, lam))
    want = (lam * w[y_a] * manual_ce(LOGITS, y_a) + (1 - lam) * w[y_b] * manual_ce(LOGITS, y_b)).mean()
    assert got.item() == pytest.approx(want.item(), rel=1e-6)


def test_drw_switches_weights_on_at_its_epoch() -> None:
    loss = build_loss("ce", COUNTS, weighting="class_balanced", beta=0.999, drw_epoch=3)
    w = effective_number_weights(COUNTS, 0.999).float()
    for epoch in range(6):
        loss.set_epoch(epoch, 6)
        expected = w if epoch >= 3 else torch.ones(3)
        assert torch.allclose(loss.class_weight, expected), epoch
    loss.set_epoch(0, 6)  # resuming earlier switches them back off
    assert torch.equal(loss.class_weight, torch.ones(3))


def test_ldam_margins_by_hand() -> None:
    # n^-1/4 of [16, 1] is [1/2, 1]: margins [0.25, 0.5] for max_margin 0.5
    assert torch.allclose(ldam_margins(torch.tensor([16.0, 1.0]), 0.5), torch.tensor([0.25, 0.5], dtype=torch.float64))


def test_ldam_subtracts_the_margin_from_the_target_logit_then_scales() -> None:
    loss = build_loss("ldam", torch.tensor([16.0, 1.0]), max_margin=0.5, s=10.0)
    z = torch.tensor([[0.3, 0.1], [0.3, 0.1]])
    y = torch.tensor([0, 1])
    want = torch.stack([
        manual_ce(10 * torch.tensor([[0.3 - 0.25, 0.1]]), torch.tensor([0]))[0],
        manual_ce(10 * torch.tensor([[0.3, 0.1 - 0.5]]), torch.tensor([1]))[0],
    ])
    assert torch.allclose(loss(z, y), want)
    assert type(loss).needs_normed_classifier and not LOSSES.get("ce").needs_normed_classifier


def test_ldam_predicts_with_the_scaled_cosines_it_trained() -> None:
    loss = build_loss("ldam", torch.tensor([16.0, 1.0]), max_margin=0.5, s=10.0)
    z = torch.tensor([[0.3, 0.1]])
    assert torch.allclose(loss.eval_logits(z), torch.tensor([[3.0, 1.0]]))
    loss.posthoc_tau = 1.0  # post-hoc adjustment applies to the scaled logits: s z - log pi
    assert torch.allclose(loss.eval_logits(z), torch.tensor([[3.0 - torch.log(torch.tensor(16 / 17)), 1.0 - torch.log(torch.tensor(1 / 17))]]))


def test_la_tau_zero_is_ce_and_tau_shifts_by_log_prior() -> None:
    assert torch.allclose(build_loss("la", COUNTS, tau=0.0)(LOGITS, TARGET), manual_ce(LOGITS, TARGET))
    log_pi = torch.log(COUNTS / COUNTS.sum())
    want = manual_ce(LOGITS + 0.5 * log_pi, TARGET)
    assert torch.allclose(build_loss("la", COUNTS, tau=0.5)(LOGITS, TARGET), want, atol=1e-6)


def test_posthoc_adjustment_at_test_time_only() -> None:
    loss = build_loss("ce", COUNTS, posthoc_tau=1.0)
    log_pi = torch.log(COUNTS / COUNTS.sum())
    assert torch.allclose(loss.eval_logits(LOGITS), LOGITS - log_pi, atol=1e-6)
    assert torch.allclose(loss(LOGITS, TARGET), manual_ce(LOGITS, TARGET))
    assert torch.equal(build_loss("ce", COUNTS).eval_logits(LOGITS), LOGITS)
    assert torch.equal(build_loss("bayias", COUNTS).eval_logits(LOGITS), LOGITS)


def test_bayias_la_and_balanced_softmax_agree_in_loss_and_gradient_under_uniform_test_prior() -> None:
    results = []
    for name, kw in (("bayias", {}), ("la", {"tau": 1.0}), ("balanced_softmax", {})):
        z = LOGITS.clone().requires_grad_(True)
        value = mixed_loss(build_loss(name, COUNTS, **kw), z, MixedBatch.unmixed(z, TARGET))
        (grad,) = torch.autograd.grad(value, z)
        results.append((value.detach(), grad))
    for value, grad in results[1:]:
        assert torch.allclose(value, results[0][0], atol=1e-6)
        assert torch.allclose(grad, results[0][1], atol=1e-6)


def test_bayias_non_uniform_test_prior() -> None:
    p_test = [0.5, 0.3, 0.2]
    loss = build_loss("bayias", COUNTS, test_prior=[5, 3, 2])  # normalised internally
    shift = torch.log(COUNTS / COUNTS.sum()) - torch.log(torch.tensor(p_test, dtype=torch.float64))
    assert torch.allclose(loss(LOGITS, TARGET), manual_ce(LOGITS + shift.float(), TARGET), atol=1e-6)
    with pytest.raises(ValueError, match="test_prior"):
        build_loss("bayias", COUNTS, test_prior=[1.0, -1.0, 1.0])


def test_bad_inputs_fail_early_naming_the_value() -> None:
    with pytest.raises(ValueError, match="gamma"):
        build_loss("focal", COUNTS, gamma=-1)
    with pytest.raises(ValueError, match="'inverse'"):
        build_loss("ce", COUNTS, weighting="inverse")
    with pytest.raises(ValueError, match="drw_epoch"):
        LossOptions(drw_epoch=5)  # deferring no weighting
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        build_loss("ce", COUNTS)(torch.zeros(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="positive"):
        build_loss("ce", torch.tensor([3.0, 0.0]))


def test_ldam_drw_method_is_ldam_with_deferred_cb_weights() -> None:
    spec = {"loss": {"name": "ldam", "weighting": "class_balanced", "beta": 0.9999, "drw_epoch": 2}}
    method = build_method("ldam_drw", spec, COUNTS)
    assert method.needs_normed_classifier
    method.start_epoch(1, 4)
    assert torch.equal(method.loss.class_weight, torch.ones(3))
    method.start_epoch(2, 4)
    assert torch.allclose(method.loss.class_weight, effective_number_weights(COUNTS, 0.9999).float())


def test_weighted_mean_reduction_by_hand() -> None:
    """sum(w_i l_i) / sum(w_i): weights (1/2, 3/2) on targets (0, 0, 1) divide by 1/2 + 1/2 + 3/2 = 5/2."""
    counts = torch.tensor([3.0, 1.0])
    z = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0], [0.0, 0.0]])
    y = torch.tensor([0, 0, 1])
    loss = build_loss("ce", counts, reduction="weighted_mean")
    loss.schedule_class_weight(torch.tensor([0.5, 1.5]), 0)
    # per-sample CE: log 2, log(4/3), log 2
    want = (0.5 * math.log(2) + 0.5 * math.log(4 / 3) + 1.5 * math.log(2)) / 2.5
    got = mixed_loss(loss, z, MixedBatch.unmixed(z, y))
    assert got.item() == pytest.approx(want, rel=1e-6)
    # the authors' reduction is PyTorch's weighted cross-entropy
    assert got.item() == pytest.approx(F.cross_entropy(z, y, weight=torch.tensor([0.5, 1.5])).item(), rel=1e-6)
    plain = build_loss("ce", counts)
    plain.schedule_class_weight(torch.tensor([0.5, 1.5]), 0)
    assert mixed_loss(plain, z, MixedBatch.unmixed(z, y)).item() == pytest.approx(want * 2.5 / 3, rel=1e-6)


def test_weighted_mean_of_a_mixed_batch_divides_by_the_lam_weighted_weights() -> None:
    loss = build_loss("ce", COUNTS, weighting="class_balanced", beta=0.9, reduction="weighted_mean")
    w = effective_number_weights(COUNTS, 0.9).float()
    y_a, y_b, lam = torch.tensor([0, 1, 2, 2]), torch.tensor([2, 0, 1, 2]), torch.tensor([0.2, 0.5, 1.0, 0.7])
    got = mixed_loss(loss, LOGITS, MixedBatch(LOGITS, y_a, y_b, lam))
    num = (lam * w[y_a] * manual_ce(LOGITS, y_a) + (1 - lam) * w[y_b] * manual_ce(LOGITS, y_b)).sum()
    assert got.item() == pytest.approx((num / (lam * w[y_a] + (1 - lam) * w[y_b]).sum()).item(), rel=1e-6)


def test_ldam_drw_reduces_as_its_authors_and_cb_focal_keeps_the_mean() -> None:
    """Library entries: LDAM-DRW's weighted mean makes its DRW phase the unweighted loss's scale
    (unit weights: the same value as the plain mean); CB-focal divides by N, as Cui et al."""
    import yaml
    from pathlib import Path

    library = yaml.safe_load((Path(__file__).resolve().parents[2] / "params" / "methods.yaml").read_text())["method_library"]
    ldam = build_method("ldam_drw", library["ldam_drw"], COUNTS)
    cb = build_method("cb_focal", library["cb_focal"], COUNTS)
    assert ldam.loss.reduction == "weighted_mean" and cb.loss.reduction == "mean"
    cos = torch.tanh(LOGITS)
    batch = MixedBatch.unmixed(cos, TARGET)
    ldam.start_epoch(0, 200)  # before DRW: unit weights, the weighted mean is the mean
    before = ldam.loss_value(cos, batch)
    assert before.item() == pytest.approx(ldam.loss(cos, TARGET).mean().item(), rel=1e-6)
    ldam.start_epoch(160, 200)
    w = effective_number_weights(COUNTS, 0.9999).float()
    per = ldam.loss(cos, TARGET)  # already w_y l
    assert ldam.loss_value(cos, batch).item() == pytest.approx((per.sum() / w[TARGET].sum()).item(), rel=1e-6)
    assert cb.loss_value(LOGITS, MixedBatch.unmixed(LOGITS, TARGET)).item() == pytest.approx(
        cb.loss(LOGITS, TARGET).mean().item(), rel=1e-6)


def test_unknown_reduction_is_named() -> None:
    with pytest.raises(ValueError, match="reduction 'sum' is not one of mean, weighted_mean"):
        build_loss("ce", COUNTS, reduction="sum")
