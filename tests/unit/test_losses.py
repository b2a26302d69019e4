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


# ---------------------------------------------------------------- issue 23: the CB-focal forms, Bayias's shift


def test_focal_weight_in_modulator_by_hand() -> None:
    """Logits (0, log 3): p = (1/4, 3/4). Weights (1/2, 2), gamma 2.
    Target 1: LDAM-DRW's form (1 - (3/4)^2)^2 * 2 * log(4/3); the outside form 2 * (1/4)^2 * log(4/3).
    Target 0: (1 - (1/4)^(1/2))^2 * 1/2 * log 4 = log(4) / 8; the outside form 1/2 * (3/4)^2 * log 4."""
    z = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    y = torch.tensor([1, 0])
    inside = build_loss("focal", torch.tensor([5.0, 5.0]), gamma=2, weight_in_modulator=True)
    outside = build_loss("focal", torch.tensor([5.0, 5.0]), gamma=2)
    for loss in (inside, outside):
        loss.schedule_class_weight(torch.tensor([0.5, 2.0]), 0)
    want_in = [(1 - 0.75**2) ** 2 * 2 * math.log(4 / 3), math.log(4) / 8]
    want_out = [2 * 0.25**2 * math.log(4 / 3), 0.5 * 0.75**2 * math.log(4)]
    assert inside(z, y).tolist() == pytest.approx(want_in, rel=1e-6)
    assert outside(z, y).tolist() == pytest.approx(want_out, rel=1e-6)


def test_focal_weight_in_modulator_is_the_ldam_drw_equation_and_plain_focal_at_unit_weights() -> None:
    """The LDAM-DRW baseline: l_i = w_{y_i} CE_i (cross_entropy with weight=w, reduction='none'),
    then mean((1 - exp(-l_i))^gamma l_i). Unit weights: both forms are the plain focal loss."""
    w = effective_number_weights(COUNTS, 0.9999).float()
    loss = build_loss("focal", COUNTS, gamma=1.0, weight_in_modulator=True, weighting="class_balanced", beta=0.9999)
    weighted_ce = F.cross_entropy(LOGITS, TARGET, weight=w, reduction="none")
    want = ((1 - torch.exp(-weighted_ce)) * weighted_ce).mean()
    assert mixed_loss(loss, LOGITS, MixedBatch.unmixed(LOGITS, TARGET)).item() == pytest.approx(want.item(), rel=1e-6)
    plain_in = build_loss("focal", COUNTS, gamma=2.0, weight_in_modulator=True)(LOGITS, TARGET)
    assert torch.allclose(plain_in, build_loss("focal", COUNTS, gamma=2.0)(LOGITS, TARGET))


def test_sigmoid_focal_by_hand() -> None:
    """Two classes, logits (log 3, 0), target 0, gamma 2: class 0 has p_t = 3/4, BCE = log(4/3),
    modulator (1/4)^2; class 1 has p_t = 1 - 1/2, BCE = log 2, modulator (1/2)^2.
    gamma 0 is the sigmoid cross-entropy summed over the classes."""
    counts = torch.tensor([5.0, 5.0])
    z, y = torch.tensor([[math.log(3.0), 0.0]]), torch.tensor([0])
    got = build_loss("sigmoid_focal", counts, gamma=2.0)(z, y)
    assert got.item() == pytest.approx(math.log(4 / 3) / 16 + math.log(2) / 4, rel=1e-6)
    bce = build_loss("sigmoid_focal", counts, gamma=0.0)(z, y)
    assert bce.item() == pytest.approx(math.log(4 / 3) + math.log(2), rel=1e-6)
    extreme = build_loss("sigmoid_focal", COUNTS, gamma=1.0)(torch.tensor([[200.0, -200.0, 0.0]]), torch.tensor([1]))
    assert torch.isfinite(extreme).all()


def test_sigmoid_focal_class_balanced_reduces_as_cui_et_al() -> None:
    """Cui et al.: sum over samples and classes of w_{y_i} FL_ik, divided by the number of positive
    labels (the batch size); not by the summed weights."""
    w = effective_number_weights(COUNTS, 0.9999).float()
    loss = build_loss("sigmoid_focal", COUNTS, gamma=1.0, weighting="class_balanced", beta=0.9999)
    p = torch.sigmoid(LOGITS)
    onehot = F.one_hot(TARGET, 3).float()
    p_t = onehot * p + (1 - onehot) * (1 - p)
    fl = (1 - p_t) * -torch.log(p_t)
    want = (w[TARGET][:, None] * fl).sum() / onehot.sum()
    got = mixed_loss(loss, LOGITS, MixedBatch.unmixed(LOGITS, TARGET))
    assert got.item() == pytest.approx(want.item(), rel=1e-5)


def test_sigmoid_focal_declares_the_prior_bias_and_renormalises_sigmoids_for_probabilities() -> None:
    from ltgrid.methods.head import decay_groups, init_classifier_bias, undecayed

    loss = build_loss("sigmoid_focal", torch.ones(10), gamma=1.0)
    assert loss.classifier_bias_init() == pytest.approx(-math.log(9)) and not loss.decays_classifier_bias
    assert torch.sigmoid(torch.tensor(loss.classifier_bias_init())).item() == pytest.approx(0.1)
    model = torch.nn.Module()
    model.classifier = torch.nn.Linear(4, 10)
    init_classifier_bias(model, loss)
    assert torch.allclose(model.classifier.bias, torch.full((10,), -math.log(9)))
    groups = decay_groups(list(model.parameters()), undecayed(model, loss))
    assert groups[1] == {"params": [model.classifier.bias], "weight_decay": 0.0} and groups[0]["params"] == [model.classifier.weight]
    from ltgrid.train.optim import build_optimizer

    opt = build_optimizer(groups, {"name": "sgd", "lr": 0.1, "momentum": 0.0, "weight_decay": 0.5, "nesterov": False})
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    weight, bias = model.classifier.weight.detach().clone(), model.classifier.bias.detach().clone()
    opt.step()  # zero gradients: only weight decay moves a parameter
    assert torch.allclose(model.classifier.weight, weight * 0.95) and torch.equal(model.classifier.bias, bias)
    ce = build_loss("ce", torch.ones(10))
    before = model.classifier.bias.clone()
    init_classifier_bias(model, ce)
    assert torch.equal(model.classifier.bias, before) and undecayed(model, ce) == []
    z = torch.linspace(-4.0, 5.0, 20).view(2, 10)
    sig = torch.sigmoid(z)
    assert torch.allclose(torch.softmax(loss.eval_logits(z), dim=1), sig / sig.sum(1, keepdim=True), atol=1e-6)
    assert torch.equal(loss.eval_logits(z).argmax(1), z.argmax(1))


def test_prior_shifts_are_formed_in_float64_and_rounded_once() -> None:
    """float32(log pi - log p_test), not float32(log pi) - float32(log p_test)."""
    counts = torch.tensor([5000.0, 2997.0, 1796.0, 1077.0, 645.0, 387.0, 232.0, 139.0, 83.0, 50.0])
    log_pi = torch.log(counts.double() / counts.double().sum())
    p_test = torch.arange(1.0, 11.0, dtype=torch.float64)
    log_test = torch.log(p_test / p_test.sum())
    bayias = build_loss("bayias", counts, test_prior=p_test.tolist())
    assert torch.equal(bayias.shift, (log_pi - log_test).float())
    assert torch.equal(build_loss("la", counts, tau=0.7).shift, (0.7 * log_pi).float())
    assert torch.equal(build_loss("balanced_softmax", counts).shift, log_pi.float())
    assert torch.equal(build_loss("bayias", counts).shift, (log_pi + math.log(10)).float())
