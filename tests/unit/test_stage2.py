"""Stage 2 of MiSLAS, LWS and weight balancing: the equations on hand-checkable inputs, and what
each kind trains, freezes and re-estimates when the trainer's stage runs one step."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ltgrid.methods.spec import method_parts
from ltgrid.methods import MixedBatch, build_method, validate_method
from ltgrid.methods.losses import build_loss, label_aware_epsilons
from ltgrid.methods.stage2 import ScaledClassifier, max_norm_project, max_norm_radius
from ltgrid.models import build_model
from ltgrid.train.optim import build_optimizer, set_lr
from ltgrid.params import fill_optimizer, fill_recipe
from ltgrid.train.stages import prepare_classifier, stage_one, stage_two

COUNTS = torch.tensor([100.0, 55.0, 10.0])
RECIPE = fill_recipe({"epochs": 2, "batch_size": 8, "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4}})


def test_label_aware_epsilons_by_hand() -> None:
    s = math.sin(math.pi / 4) * 0.3  # x = (55 - 10) / (100 - 10) = 0.5
    assert torch.allclose(label_aware_epsilons(COUNTS, 0.3, 0.0, "concave"), torch.tensor([0.3, s, 0.0], dtype=torch.float64))
    assert torch.allclose(label_aware_epsilons(COUNTS, 0.3, 0.0, "linear"), torch.tensor([0.3, 0.15, 0.0], dtype=torch.float64))
    assert torch.allclose(label_aware_epsilons(COUNTS, 0.3, 0.0, "convex"), torch.tensor([0.3, 0.3 - s, 0.0], dtype=torch.float64))
    assert torch.allclose(label_aware_epsilons(COUNTS, 0.4, 0.1), torch.tensor([0.4, 0.1 + s, 0.1], dtype=torch.float64))
    assert torch.equal(label_aware_epsilons(torch.tensor([5.0, 5.0]), 0.3, 0.1), torch.tensor([0.1, 0.1], dtype=torch.float64))
    with pytest.raises(ValueError, match="head must be a number in \\[0, 1\\), got 1.5"):
        label_aware_epsilons(COUNTS, 1.5, 0.0)
    with pytest.raises(ValueError, match="'wavy'"):
        label_aware_epsilons(COUNTS, 0.3, 0.0, "wavy")


def test_las_loss_by_hand() -> None:
    loss = build_loss("las", torch.tensor([100.0, 10.0]), head=0.3, tail=0.1)  # eps = 0.3 (class 0), 0.1 (class 1)
    logits = torch.tensor([[math.log(3.0), 0.0], [math.log(3.0), 0.0]])  # p = (0.75, 0.25)
    got = loss(logits, torch.tensor([0, 1]))
    mean_nll = -(math.log(0.75) + math.log(0.25)) / 2
    want = [0.7 * -math.log(0.75) + 0.3 * mean_nll, 0.9 * -math.log(0.25) + 0.1 * mean_nll]
    assert torch.allclose(got, torch.tensor(want), atol=1e-6)
    # the same as CE against the smoothed target (1 - eps_y) onehot(y) + eps_y / C
    target = torch.tensor([[0.7 + 0.15, 0.15], [0.05, 0.9 + 0.05]])
    assert torch.allclose(got, F.cross_entropy(logits, target, reduction="none"), atol=1e-6)


def test_lws_scales_each_class_logit() -> None:
    linear = nn.Linear(2, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        linear.bias.copy_(torch.tensor([1.0, -1.0]))
    scaled = ScaledClassifier(linear, 2)
    x = torch.tensor([[2.0, 3.0]])
    assert torch.equal(scaled(x), linear(x))  # scales start at 1
    with torch.no_grad():
        scaled.scales.copy_(torch.tensor([2.0, 0.5]))
    assert torch.allclose(scaled(x), torch.tensor([[6.0, 1.0]]))  # f_c * (w_c x + b_c)


def test_max_norm_radius_and_projection_by_hand() -> None:
    w = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 3.0]])  # row norms 5, 1, 3
    radius = max_norm_radius(w, 0.1)
    assert torch.isclose(radius, torch.tensor(1.4))  # 1 + 0.1 * (5 - 1)
    assert torch.allclose(max_norm_project(w, radius), torch.tensor([[0.84, 1.12], [1.0, 0.0], [0.0, 1.4]]))
    assert torch.equal(max_norm_project(w, max_norm_radius(w, 1.0)), w)  # radius = the longest row


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "lws", "max_norm": 0.1}, "kind 'lws' trains none"),
        ({"kind": "mislas", "shift_bn": "yes"}, "shift_bn must be true or false"),
        ({"kind": "finetune", "weight_decay": -1}, "stage2.weight_decay must be a number >= 0, got -1"),
        ({"kind": "mislas", "classifier_lr_factor": 0}, "classifier_lr_factor must be a number > 0"),
        ({"kind": "crt", "loss": "ce"}, "stage2.loss must be a mapping"),
    ],
)
def test_stage2_spec_names_the_bad_value(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        method_parts("m", {"stage2": spec})


def test_stage2_loss_and_method_optimizer_are_checked_early() -> None:
    with pytest.raises(ValueError, match="'m': stage2.loss.name = 'lass'"):
        validate_method("m", {"stage2": {"kind": "mislas", "loss": {"name": "lass"}}})
    with pytest.raises(ValueError, match="'m': stage2.loss 'las': unknown argument"):
        validate_method("m", {"stage2": {"kind": "mislas", "loss": {"name": "las", "heads": 0.3}}})
    with pytest.raises(ValueError, match="'m': .*head must be a number in \\[0, 1\\), got 2"):
        validate_method("m", {"stage2": {"kind": "mislas", "loss": {"name": "las", "head": 2}}})
    with pytest.raises(ValueError, match="'m': optimizer has unknown key"):
        validate_method("m", {"optimizer": {"wd": 5e-3}})
    with pytest.raises(ValueError, match="optimizer.weight_decay must be a number >= 0, got -0.1"):
        validate_method("m", {"optimizer": {"weight_decay": -0.1}})


def test_stage_one_takes_the_method_weight_decay_and_leaves_lws_scales() -> None:
    method = build_method("m", {"optimizer": {"weight_decay": 5e-3}, "stage2": {"kind": "lws"}}, COUNTS)
    model = build_model("digits_cnn", 3, 1)
    frozen = prepare_classifier(model, method)
    stage = stage_one(model, method, RECIPE, frozen)
    assert stage.optimizer["weight_decay"] == 5e-3 and stage.optimizer["lr"] == 0.1
    assert all(p is not model.classifier.scales for p in stage.params)
    assert len(stage.params) == len(list(model.parameters())) - 1


def step(model: nn.Module, spec: dict) -> tuple[dict[str, torch.Tensor], object]:
    """Build the method's stage 2 on `model`, prepare it and take one optimiser step; the state before."""
    method = build_method("m", {"stage2": spec}, COUNTS)
    prepare_classifier(model, method)
    stage = stage_two(model, method, COUNTS, RECIPE)
    stage.prepare()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer = build_optimizer(stage.params, stage.optimizer)
    set_lr(optimizer, stage.lr(0))
    x, y = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(1)) + 3.0, torch.tensor([0, 1, 2] * 2 + [0, 1])
    loss = stage.loss(stage.forward(x), MixedBatch.unmixed(x, y))
    loss.backward()
    optimizer.step()
    stage.end_epoch()
    return before, stage


def changed(before: dict[str, torch.Tensor], model: nn.Module) -> set[str]:
    return {k for k, v in model.state_dict().items() if k in before and not torch.equal(before[k], v)}


def test_mislas_shifts_bn_statistics_keeps_affine_and_trains_classifier_and_scales() -> None:
    torch.manual_seed(0)
    model = build_model("digits_cnn", 3, 1)
    spec = {"kind": "mislas", "loss": {"name": "las", "head": 0.3, "tail": 0.0}, "shift_bn": True, "classifier_lr_factor": 0.5}
    before, stage = step(model, spec)
    diff = changed(before, model)
    assert {"body.1.running_mean", "body.1.running_var", "body.4.running_mean"} <= diff  # re-estimated on these batches
    assert not any(k.endswith((".weight", ".bias")) and k.startswith("body.") for k in diff)  # conv + BN affine frozen
    assert {"classifier.inner.weight", "classifier.inner.bias", "classifier.scales"} <= diff
    assert [g["lr_factor"] for g in build_optimizer(stage.params, stage.optimizer).param_groups] == [0.5, 1.0]


def test_lws_trains_only_the_scales_and_crt_resets_the_classifier() -> None:
    torch.manual_seed(0)
    model = build_model("digits_cnn", 3, 1)
    before, _ = step(model, {"kind": "lws"})
    assert changed(before, model) == {"classifier.scales"}  # no BN shift: running stats stay stage 1's
    torch.manual_seed(0)
    model = build_model("digits_cnn", 3, 1)
    w0 = model.classifier.weight.detach().clone()
    before, _ = step(model, {"kind": "crt"})
    assert not torch.equal(before["classifier.weight"], w0)  # re-initialised before training
    assert changed(before, model) == {"classifier.weight", "classifier.bias"}


def test_weight_balancing_finetune_projects_rows_onto_the_max_norm_ball() -> None:
    torch.manual_seed(0)
    model = build_model("digits_cnn", 3, 1)
    with torch.no_grad():
        model.classifier.weight.mul_(torch.tensor([[4.0], [1.0], [0.25]]))  # unequal stage-1 row norms
    norms = model.classifier.weight.norm(dim=1)
    radius = norms.min() + 0.1 * (norms.max() - norms.min())
    spec = {"kind": "finetune", "sampler": {"name": "instance"}, "lr": 0.01, "weight_decay": 0.1, "max_norm": 0.1,
            "loss": {"name": "ce", "weighting": "class_balanced", "beta": 0.9999}}
    before, stage = step(model, spec)
    assert stage.optimizer["weight_decay"] == 0.1
    assert torch.isclose(model.max_norm_radius, radius)
    assert bool((model.classifier.weight.norm(dim=1) <= radius + 1e-6).all())
    assert changed(before, model) == {"classifier.weight", "classifier.bias"}


def test_set_lr_applies_group_factors() -> None:
    a, b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer([{"params": [a], "lr_factor": 0.2}, {"params": [b]}], fill_optimizer({"lr": 1.0}))
    set_lr(optimizer, 0.5)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.5]


def test_clean_train_accuracy_counts_hits_over_the_unaugmented_split() -> None:
    from types import SimpleNamespace

    from ltgrid.train.predict import clean_train_accuracy

    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [2.0, 0.0]])
    y = torch.tensor([0, 1, 1, 0])  # the third is wrong: 75%
    feed = SimpleNamespace(train_eval_batches=lambda b: ((x[i : i + b], y[i : i + b]) for i in range(0, 4, b)))
    assert clean_train_accuracy(model, feed, 3) == 75.0
    assert clean_train_accuracy(model, SimpleNamespace(), 3) is None  # a feed that cannot replay its split
