"""BalPoE: the multi-expert ResNet-32, the experts' loss and the test-time combination against their
equations on hand-checkable inputs; training accuracy on the combined logits; refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ltgrid.errors import PartError
from ltgrid.evaluate.test_agnostic import trained_log_prior
from ltgrid.methods import MixedBatch, build_method, mixed_loss
from ltgrid.methods.losses import build_loss
from ltgrid.methods.spec import method_parts
from ltgrid.models import build_model, count_parameters
from ltgrid.models.multi_expert import ExpertHeads
from ltgrid.train.loop import Stage, Tally, compute
from ltgrid.train.optim import build_optimizer
from ltgrid.params import fill_optimizer, fill_recipe
from ltgrid.train.predict import clean_train_accuracy
from ltgrid.train.stages import stage_one

COUNTS = torch.tensor([3.0, 1.0])  # pi = (3/4, 1/4)
LOG_PI = torch.log(torch.tensor([0.75, 0.25]))


def test_model_output_shape_and_parameter_count() -> None:
    """(N, K, C); 1,342,864 + 192 C parameters: shared stem + stage 1 (23,824), per expert stages 2-3
    (88,192 + 351,488) and a 64 x C cosine head, K = 3."""
    for c, expected in ((10, 1_344_784), (100, 1_362_064)):
        model = build_model("resnet32_experts", c, 3, normed_classifier=True)
        assert count_parameters(model) == expected == 23_824 + 3 * (88_192 + 351_488 + 64 * c)
    model.eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3, 100)
    digits = build_model("resnet32_experts", 10, 1, normed_classifier=True).eval()
    assert digits(torch.randn(4, 1, 8, 8)).shape == (4, 3, 10)  # 1 channel, 8x8: the digits grid


def test_shared_layers_are_one_parameter_object_and_experts_are_not() -> None:
    model = build_model("resnet32_experts", 10, 3, normed_classifier=True)
    params = list(model.parameters())
    assert len({id(p) for p in params}) == len(params)  # no parameter counted twice
    shared = model.shared[0].conv1.weight
    assert sum(p is shared for p in params) == 1
    first, second = (e[0][0].conv1.weight for e in model.experts[:2])
    assert first is not second and first.shape == second.shape == (32, 16, 3, 3)
    # a change of the shared stage moves every expert's output; one expert's stage moves only its own
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    before = model(x)
    with torch.no_grad():
        model.experts[1][0][0].conv1.weight.mul_(2.0)
    after = model(x)
    assert torch.equal(before[:, 0], after[:, 0]) and torch.equal(before[:, 2], after[:, 2])
    assert not torch.allclose(before[:, 1], after[:, 1])
    with torch.no_grad():
        shared.mul_(2.0)
    moved = model(x)
    assert all(not torch.allclose(after[:, k], moved[:, k]) for k in range(3))


def test_expert_heads_apply_head_k_to_expert_k() -> None:
    heads = ExpertHeads(2, 3, 2, normed=False)
    with torch.no_grad():
        for k, head in enumerate(heads.heads):
            head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) * (k + 1))
            head.bias.zero_()
    feats = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # N = 1, K = 2, D = 2
    assert torch.equal(heads(feats), torch.tensor([[[1.0, 2.0, 3.0], [6.0, 8.0, 14.0]]]))


def test_loss_two_experts_three_classes_by_hand() -> None:
    """lambdas (1, -1): expert 0 plain CE, expert 1 CE on z + 2 log pi; the loss is their mean.
    pi = (1/2, 1/4, 1/4), s = 1, z_0 = (0, 0, 0), z_1 = (0, log 4, 0), y = 1:
    l_0 = log 3; z_1 + 2 log pi = (log 1/4, log 4 + log 1/16, log 1/16) = log (1/4, 1/4, 1/16),
    so l_1 = -log((1/4) / (9/16)) = log(9/4); l = (log 3 + log 9/4) / 2."""
    loss = build_loss("balpoe", torch.tensor([2.0, 1.0, 1.0]), lambdas=[1.0, -1.0], s=1.0)
    z = torch.tensor([[[0.0, 0.0, 0.0], [0.0, math.log(4.0), 0.0]]])
    value = loss(z, torch.tensor([1]))
    assert value.shape == (1,)
    assert value.item() == pytest.approx((math.log(3.0) + math.log(9.0 / 4.0)) / 2, rel=1e-6)


def test_loss_equals_the_experts_logit_adjusted_ce_with_scale_and_mixup() -> None:
    torch.manual_seed(0)
    counts = torch.tensor([50.0, 20.0, 5.0, 1.0])
    log_pi = torch.log(counts / counts.sum())
    z, y, y2 = torch.randn(6, 3, 4), torch.tensor([0, 1, 2, 3, 0, 3]), torch.tensor([3, 3, 0, 1, 2, 0])
    loss = build_loss("balpoe", counts, lambdas=[1.0, 0.0, -1.0], s=30.0)
    expected = sum(F.cross_entropy(30 * z[:, k] + (1 - lam) * log_pi, y, reduction="none")
                   for k, lam in enumerate([1.0, 0.0, -1.0])) / 3
    assert torch.allclose(loss(z, y), expected, atol=1e-5)
    lam = torch.full((6,), 0.3)  # mixup: 0.3 L(y) + 0.7 L(y2), the authors' loss_a / loss_b mix
    mixed = mixed_loss(loss, z, MixedBatch(z, y, y2, lam))
    assert mixed.item() == pytest.approx((0.3 * loss(z, y) + 0.7 * loss(z, y2)).mean().item(), rel=1e-6)


def test_eval_logits_uniform_prior_are_the_experts_mean() -> None:
    """lambda_bar = 0 and a uniform test prior: the mean of s z_k, nothing added (their test.py)."""
    loss = build_loss("balpoe", COUNTS, lambdas=[1.0, 0.0, -1.0], s=2.0)
    z = torch.tensor([[[1.0, 0.0], [0.0, 3.0], [2.0, 0.0]]])
    assert torch.allclose(loss.eval_logits(z), torch.tensor([[2.0, 2.0]]))  # 2 * (3, 3) / 3
    assert torch.allclose(loss.joint_logits(z), torch.tensor([[2.0, 2.0]]))


def test_eval_logits_known_test_prior_and_a_nonzero_mean_lambda() -> None:
    """z_eval = mean_k s z_k - lambda_bar log pi + log p_t: p_t = (1/5, 4/5) with lambdas (1, 0, -1)
    adds log p_t (their --posthoc_bias_correction); lambdas (1, 0) (lambda_bar = 1/2) subtract
    (1/2) log pi as well."""
    z = torch.tensor([[[1.0, 0.0], [0.0, 3.0], [2.0, 0.0]]])
    log_pt = torch.log(torch.tensor([0.2, 0.8]))
    loss = build_loss("balpoe", COUNTS, lambdas=[1.0, 0.0, -1.0], s=1.0, test_prior=[1.0, 4.0])
    assert torch.allclose(loss.eval_logits(z), torch.tensor([[1.0, 1.0]]) + log_pt)
    two = build_loss("balpoe", COUNTS, lambdas=[1.0, 0.0], s=1.0, test_prior=[1.0, 4.0])
    z2 = z[:, :2]
    assert torch.allclose(two.eval_logits(z2), torch.tensor([[0.5, 1.5]]) - 0.5 * LOG_PI + log_pt)
    assert torch.allclose(two.joint_logits(z2), torch.tensor([[0.5, 1.5]]))  # training accuracy: unadjusted


def test_test_agnostic_shift_knows_the_balpoe_test_prior() -> None:
    spec = {"loss": {"name": "balpoe", "test_prior": [1.0, 3.0]}}
    assert np.allclose(trained_log_prior(spec, 2), np.log([0.25, 0.75]))
    assert np.allclose(trained_log_prior({"loss": {"name": "balpoe"}}, 4), np.log(np.full(4, 0.25)))


def test_bad_arguments_are_refused_early() -> None:
    with pytest.raises(PartError, match="balpoe lambdas must be a list of at least 1 numbers, got 'x'"):
        method_parts("m", {"loss": {"name": "balpoe", "lambdas": "x"}})
    with pytest.raises(PartError, match="balpoe s must be a number > 0, got 0"):
        method_parts("m", {"loss": {"name": "balpoe", "s": 0}})
    with pytest.raises(PartError, match="balpoe test_prior must be 2 positive numbers"):
        build_loss("balpoe", COUNTS, test_prior=[1.0, 1.0, 1.0])
    loss = build_loss("balpoe", COUNTS)
    with pytest.raises(ValueError, match=r"balpoe needs the experts' logits of shape \(N, 3, 2\), got \(4, 2\)"):
        loss(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))


def test_training_tally_counts_hits_of_the_combined_logits() -> None:
    """Expert 0 alone would call both images class 0; the experts' mean calls them (1, 1)."""
    method = build_method("balpoe", {"loss": {"name": "balpoe", "s": 1.0}}, COUNTS.double())
    fixed = torch.tensor([[[5.0, 0.0], [0.0, 4.0], [0.0, 4.0]], [[5.0, 0.0], [0.0, 4.0], [0.0, 4.0]]])
    weight = torch.nn.Parameter(torch.zeros(()))
    stage = Stage("stage1", 1, lambda e: 0.1, None, [weight], lambda x: fixed + weight, False, method.loss_value,
                  fill_optimizer({"lr": 0.1}), joint=method.joint_logits)
    tally = Tally(torch.device("cpu"))
    batch = MixedBatch.unmixed(torch.zeros(2, 1), torch.tensor([1, 0]))
    compute(stage, build_optimizer([weight], stage.optimizer), batch, tally)
    assert tally.read()[1] == 1.0  # image 0 (y = 1) right, image 1 (y = 0) wrong


def test_stage_one_and_clean_accuracy_use_the_method_combination() -> None:
    method = build_method("balpoe", {"loss": {"name": "balpoe"}}, COUNTS.double())
    torch.manual_seed(0)
    model = build_model("resnet32_experts", 2, 1, normed_classifier=True)
    stage = stage_one(model, method, fill_recipe({"epochs": 1, "batch_size": 4, "optimizer": {"lr": 0.1}}))
    x = torch.randn(4, 1, 8, 8)
    model.eval()
    assert torch.equal(stage.joint(model(x)), method.joint_logits(model(x)))

    class Feed:
        def train_eval_batches(self, batch_size: int):
            yield x, method.joint_logits(model(x)).argmax(1)

    assert clean_train_accuracy(model, Feed(), 4, method.joint_logits) == 100.0


def _steps_of(make, spec: dict) -> tuple[dict, tuple]:
    """One drop-last epoch of a seeded 3-expert cell on 8x8 RGB noise (counts 24 .. 8), mixup on."""
    from ltgrid.data.arrays import ArrayDataset
    from ltgrid.data.feed import InMemoryFeed
    from ltgrid.train.loop import plan_epoch, train_step

    rng = np.random.default_rng(0)
    counts = [24, 16, 8]
    y = np.repeat(np.arange(3), counts)
    ds = ArrayDataset(rng.integers(0, 256, (len(y), 8, 8, 3), dtype=np.uint8), y,
                      rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8), np.arange(6) % 3, ("a", "b", "c"))
    data = InMemoryFeed(ds, {"train_indices": list(range(len(y))), "counts": counts}, torch.device("cpu"),
                        {"crop_padding": 1, "hflip": True})
    method = build_method("balpoe", spec, torch.tensor(counts, dtype=torch.float64))
    torch.manual_seed(0)
    model = build_model("resnet32_experts", 3, 3, normed_classifier=method.needs_normed_classifier)
    stage = stage_one(model, method, fill_recipe({"epochs": 1, "batch_size": 8, "optimizer": {"lr": 0.05}}))
    optimizer = build_optimizer(stage.params, stage.optimizer)
    method.start_epoch(0, 1)
    model.train()
    generator = torch.Generator().manual_seed(0)
    steps = make(stage, optimizer, method, data.device)
    plan = plan_epoch(stage, 0, method, data, generator, 8, drop_last=True)
    steps.start_epoch()
    for b in range(plan.num_batches):
        train_step(steps, method, data, plan, b, 0, generator)
    return model.state_dict(), steps.tally.read()


def test_graph_steps_path_trains_a_balpoe_cell_exactly_like_eager_steps() -> None:
    """The static-buffer path a CUDA graph replays runs the experts' loss and the combined-logit tally
    as the eager step does, bit for bit (capture itself needs CUDA)."""
    from ltgrid.train.graph import GraphSteps
    from ltgrid.train.loop import EagerSteps

    spec = {"loss": {"name": "balpoe"}, "mixing": {"name": "mixup", "alpha": 0.4, "per": "batch"}}
    eager, eager_tally = _steps_of(EagerSteps, spec)
    graph, graph_tally = _steps_of(lambda *a: GraphSteps(*a, capture=False), spec)
    assert eager_tally == graph_tally and np.isfinite(eager_tally[0]) and eager_tally[2] == -1
    for (name, p), q in zip(eager.items(), graph.values()):
        assert torch.equal(p, q), name
