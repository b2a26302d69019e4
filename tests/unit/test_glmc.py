"""GLMC (Du et al., CVPR 2023): its mixing rule, loss and model part against their equations.

Facts: ynu-yangpeng/GLMC, GLMC-2023/Trainer.py, utils/util.py (GLMC_mixed, rand_bbox), main.py,
model/ResNet_cifar.py. Every expected value below is worked out by hand in its comment.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from ltgrid.errors import PartError
from ltgrid.methods import MixedBatch, build_method
from ltgrid.methods.losses.glmc import GlmcLoss, cumulative_weight, negative_cosine, power_weights
from ltgrid.methods.mixing.glmc import GlmcMixing, box_mask, centre_box, resample_probs
from ltgrid.models import build_model, count_parameters
from ltgrid.models.resnet_glmc import split_outputs
from ltgrid.train.loop import EagerSteps, EpochContext, gathered_order, plan_epoch, train_epoch, train_step
from ltgrid.train.optim import build_optimizer
from ltgrid.train.stages import stage_one

sys.path.insert(0, str(Path(__file__).parent))
from test_step_sync import CLASSES, RECIPE, feed, host_reads  # noqa: E402  (the step-sync instrument and data)

SPEC = {"loss": {"name": "glmc", "label_weighting": 1.2, "contrast_weight": 4.0},
        "mixing": {"name": "glmc", "alpha": 1.0, "resample_weighting": 0.0}}
COUNTS = torch.tensor([80.0, 50.0, 30.0, 20.0, 16.0], dtype=torch.float64)


# ---- the cumulative schedule and the class weights ----

def test_cumulative_weight_at_the_start_the_middle_and_the_end() -> None:
    # a = 1 - (e / T)^2: 1 at e = 0, 1 - 1/4 at T/2, 0 at T; the last trained epoch T - 1 = 199 of 200: 1 - 0.995^2
    assert cumulative_weight(0, 200) == 1.0
    assert cumulative_weight(100, 200) == 0.75
    assert cumulative_weight(200, 200) == 0.0
    assert cumulative_weight(199, 200) == pytest.approx(1 - 0.995**2)


def test_rebalance_weights_are_inverse_count_powers_summing_to_c() -> None:
    # n = (100, 10, 1), power 1: raw (0.01, 0.1, 1), sum 1.11, times C = 3 / 1.11
    w = power_weights(torch.tensor([100.0, 10.0, 1.0]), 1.0)
    assert torch.allclose(w, torch.tensor([0.01, 0.1, 1.0], dtype=torch.float64) * 3 / 1.11)
    assert torch.equal(power_weights(torch.tensor([100.0, 10.0, 1.0]), 0.0), torch.ones(3, dtype=torch.float64))
    # power 1.2 on (4, 1): raw (4^-1.2, 1), scaled to sum 2
    w = power_weights(torch.tensor([4.0, 1.0]), 1.2)
    assert w.sum().item() == pytest.approx(2.0) and (w[1] / w[0]).item() == pytest.approx(4**1.2)


# ---- the mixing rule ----

def test_resample_probabilities_follow_count_powers() -> None:
    labels = torch.tensor([0, 0, 0, 0, 1])
    counts = torch.tensor([4.0, 1.0])
    # q = 1: weights 1/4 for each class-0 image, 1 for the class-1 image; total 2
    assert torch.allclose(resample_probs(labels, counts, 1.0), torch.tensor([0.125, 0.125, 0.125, 0.125, 0.5], dtype=torch.float64))
    # q = 0 (their CIFAR-100 rho = 100 command): uniform with replacement
    assert torch.allclose(resample_probs(labels, counts, 0.0), torch.full((5,), 0.2, dtype=torch.float64))


def test_streams_are_the_batch_twice_then_re_balanced_partners_twice() -> None:
    labels = torch.tensor([0] * 80 + [1] * 20)
    rule = GlmcMixing(torch.tensor([80.0, 20.0]), alpha=1.0, resample_weighting=1.0)
    order = torch.randperm(100, generator=torch.Generator().manual_seed(0))
    rows = rule.streams(order, labels, torch.Generator().manual_seed(1))
    assert rows.shape == (4, 100)
    assert torch.equal(rows[0], order) and torch.equal(rows[1], order) and torch.equal(rows[2], rows[3])
    # q = 1: P(class) prop. n_c n_c^-1, classes equally likely: over 40,000 draws class 1 near 1/2
    many = rule.streams(torch.arange(40_000) % 100, labels, torch.Generator().manual_seed(2))[2]
    assert abs(labels[many].double().mean().item() - 0.5) < 0.01


def test_gathered_order_cuts_each_batch_of_every_stream_together() -> None:
    rows = torch.tensor([[0, 1, 2], [10, 11, 12]])
    # batch 2: [0, 1 | 10, 11], then the last partial batch [2 | 12]
    assert gathered_order(rows, 2).tolist() == [0, 1, 10, 11, 2, 12]


@pytest.mark.parametrize(("lam", "centre", "size", "box"), [
    (0.75, (0.5, 0.5), (32, 32), (8, 24, 8, 24)),   # side ceil(32 * 0.5) = 16, centre (16, 16), -+ 8
    (0.75, (0.0, 0.0), (32, 32), (0, 8, 0, 8)),     # centre (0, 0): clipped to the top-left corner
    (0.5, (0.5, 0.5), (8, 8), (1, 7, 1, 7)),        # side ceil(8 * 0.7071) = 6, half 3, centre (4, 4)
    (0.5, (0.99, 0.0), (8, 8), (4, 8, 0, 3)),       # centre (7, 0): rows 4..10 clipped to 8, cols -3..3 to 0..3
    (0.0, (0.5, 0.5), (8, 8), (0, 8, 0, 8)),        # lam 0: side 8, the whole image
])
def test_cutmix_box_as_rand_bbox(lam: float, centre: tuple[float, float], size: tuple[int, int], box: tuple) -> None:
    got = centre_box(torch.tensor([lam], dtype=torch.float64), torch.tensor([centre], dtype=torch.float64), *size)
    assert tuple(got[0].tolist()) == box


def test_cutmix_box_area_tracks_one_minus_lambda() -> None:
    # an unclipped box (centre mid-image) has sides 2 * (ceil(S sqrt(1 - lam)) // 2), so its area fraction is
    # within 2 / S (two pixels of side) of 1 - lam, the label weight the authors give the pasted part
    lams = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    boxes = centre_box(lams, torch.full((19, 2), 0.5, dtype=torch.float64), 32, 32)
    area = ((boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])).double() / 1024
    assert torch.all((area - (1 - lams)).abs() <= 2 / 32 + 1e-9)
    mask = box_mask(boxes, 32, 32)
    assert torch.equal(mask.sum(dim=(1, 2, 3)).double() / 1024, area)


def test_apply_builds_the_global_and_the_local_mixture() -> None:
    b, h, w = 2, 8, 8
    # four blocks of constant images: batch view 1 = 1, view 2 = 2, partner view 1 = 10, view 2 = 20
    x = torch.cat([torch.full((b, 1, h, w), v) for v in (1.0, 2.0, 10.0, 20.0)])
    y = torch.tensor([0, 1, 0, 1, 3, 4, 3, 4])
    draws = {"lam": torch.full((4 * b,), 0.75, dtype=torch.float64),
             "centre": torch.full((4 * b, 2), 0.5, dtype=torch.float64)}
    batch = GlmcMixing(COUNTS, 1.0, 0.0).apply(x, y, draws)
    assert batch.x.shape == (2 * b, 1, h, w) and batch.mixed
    assert torch.allclose(batch.x[:b], torch.full((b, 1, h, w), 0.75 * 1 + 0.25 * 10))  # global: lam x1 + (1 - lam) r1
    # local: lam 0.75 on 8x8 -> side ceil(8 * 0.5) = 4, centre (4, 4), box rows/cols [2, 6): 16 pixels from r2
    cut = batch.x[b:]
    assert torch.all(cut[:, :, 2:6, 2:6] == 20) and (cut == 2).sum().item() == b * (64 - 16)
    assert batch.y_a.tolist() == [0, 1, 0, 1] and batch.y_b.tolist() == [3, 4, 3, 4]
    assert torch.allclose(batch.lam, torch.full((2 * b,), 0.75))


def test_draw_gives_one_lambda_and_one_centre_per_batch() -> None:
    draws = GlmcMixing(COUNTS, 1.0, 0.0).draw(torch.zeros(12, dtype=torch.long), torch.Generator().manual_seed(0))
    assert draws["lam"].shape == (12,) and torch.all(draws["lam"] == draws["lam"][0])
    assert draws["centre"].shape == (12, 2) and torch.all(draws["centre"] == draws["centre"][0])
    assert 0 < draws["lam"][0] < 1 and torch.all((draws["centre"] >= 0) & (draws["centre"] < 1))


# ---- the loss ----

def glmc_outputs(logits: list[list[float]], logits_cb: list[list[float]], h: list[list[float]], u: list[list[float]]) -> torch.Tensor:
    rows = [a + b + c + d for a, b, c, d in zip(logits, logits_cb, h, u)]
    return torch.tensor(rows, dtype=torch.float32, requires_grad=True)


def test_loss_value_by_hand() -> None:
    counts = torch.tensor([4.0, 1.0], dtype=torch.float64)
    loss = GlmcLoss(counts, label_weighting=1.0, contrast_weight=2.0)
    loss.set_epoch(100, 200)  # a = 0.75
    # one sampled image (B = 1): row 0 the global mixture, row 1 the local one; y_a = 0, y_b = 1, lam = 0.25
    # zero logits: every CE is log 2, so the mixed CE of a row is log 2 whatever lam; w = (1/4, 1) * 2 / 1.25 = (0.4, 1.6)
    out = glmc_outputs([[0, 0], [0, 0]], [[0, 0], [0, 0]], [[1, 0], [3, 0]], [[0, 1], [2, 0]])
    batch = MixedBatch(torch.zeros(2, 1), torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([0.25, 0.25]))
    log2 = math.log(2)
    balance = 2 * log2                                   # two means of log 2
    rebalance = 2 * (0.25 * 0.4 + 0.75 * 1.6) * log2     # each row: lam w_a log 2 + (1 - lam) w_b log 2 = 1.3 log 2
    # u_mix = (0, 1) vs h_cut = (3, 0): cos 0; u_cut = (2, 0) vs h_mix = (1, 0): cos 1 -> consistency -1
    expected = 0.75 * balance + 0.25 * rebalance + 2.0 * -1.0
    value = loss.batch_value(out, batch)
    assert value.item() == pytest.approx(expected, rel=1e-6)
    # stop-gradient: the projections h get no gradient from the consistency term (their only use here)
    value.backward()
    assert torch.all(out.grad[:, 4:6] == 0) and torch.any(out.grad[:, 6:8] != 0)


def test_loss_balance_branch_is_the_mixed_ce_of_fc() -> None:
    loss = GlmcLoss(torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64), label_weighting=1.2, contrast_weight=0.0)
    loss.set_epoch(0, 10)  # a = 1: only the uniform branch
    z = [[2.0, 0.0, -1.0], [0.5, 0.0, 1.0]]
    out = glmc_outputs(z, [[9.0, 0, 0], [0, 9.0, 0]], [[1.0], [1.0]], [[1.0], [1.0]])
    batch = MixedBatch(torch.zeros(2, 1), torch.tensor([0, 0]), torch.tensor([2, 2]), torch.tensor([0.6, 0.6]))
    lsm = torch.log_softmax(torch.tensor(z), dim=1)
    per_row = -(0.6 * lsm[:, 0] + 0.4 * lsm[:, 2])  # soft label 0.6 e_0 + 0.4 e_2
    assert loss.batch_value(out, batch).item() == pytest.approx(per_row.sum().item(), rel=1e-6)


def test_negative_cosine_and_the_prediction_head() -> None:
    assert negative_cosine(torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0, 2.0]])).item() == pytest.approx(-1.0)
    loss = GlmcLoss(COUNTS, 1.0, 1.0)
    out = torch.arange(2 * (2 * 5 + 6), dtype=torch.float32).view(2, 16)  # C = 5, h = 3
    assert torch.equal(loss.joint_logits(out), out[:, 5:10])  # fc_cb, the authors' forward(train=False)
    assert torch.equal(loss.eval_logits(out), out[:, 5:10])
    with pytest.raises(ValueError, match="GLMC outputs must have shape"):
        split_outputs(torch.zeros(2, 5), 5)


def test_glmc_loss_needs_the_glmc_mixing_every_epoch() -> None:
    with pytest.raises(PartError, match="loss 'glmc' needs mixing {name: glmc}, got mixing 'unimix'"):
        build_method("m", {"loss": {"name": "glmc"}, "mixing": {"name": "unimix"}}, COUNTS)
    with pytest.raises(PartError, match="mix_off_last must be 0, got 3"):
        build_method("m", {**SPEC, "schedule": {"mix_off_last": 3}}, COUNTS)


# ---- the model part ----

def test_resnet32_glmc_is_the_authors_wide_resnet32_with_four_heads() -> None:
    model = build_model("resnet32_glmc", 10, 3)
    # the authors' resnet32(num_class=10) (ResNet_modify, nf = 64) counts 7,438,164 parameters
    assert count_parameters(model) == 7_438_164
    out = model(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 2 * 10 + 2 * 128)
    logits, logits_cb, h, u = split_outputs(out, 10)
    assert logits.shape == logits_cb.shape == (2, 10) and h.shape == u.shape == (2, 128)
    assert model.forward_features(torch.zeros(1, 3, 32, 32)).shape == (1, 256)


def test_digits_variant_runs_on_8x8_grey_images() -> None:
    model = build_model("digits_cnn_glmc", 10, 1)
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 2 * 10 + 2 * 128)
    with pytest.raises(ValueError, match="linear classifiers"):
        build_model("digits_cnn_glmc", 10, 1, normed_classifier=True)


# ---- the training step: no host reads, deterministic ----

def setup_cell(seed: int = 0) -> tuple:
    data = feed()
    method = build_method("glmc", SPEC, COUNTS)
    torch.manual_seed(seed)
    model = build_model("digits_cnn_glmc", CLASSES, 3)
    stage = stage_one(model, method, RECIPE, [])
    optimizer = build_optimizer(stage.params, stage.optimizer)
    return data, method, model, stage, optimizer, torch.Generator().manual_seed(seed)


def test_no_host_read_in_the_glmc_step() -> None:
    data, method, model, stage, optimizer, generator = setup_cell()
    method.start_epoch(0, RECIPE["epochs"])
    model.train()
    plan = plan_epoch(stage, 0, method, data, generator, 8)
    assert plan.batch_size == 32 and plan.num_batches == 25  # 196 images, 8 a batch, four gathered per image
    steps = EagerSteps(stage, optimizer, method, data.device)
    steps.start_epoch()
    with host_reads() as reads:
        seen = sum(train_step(steps, method, data, plan, b, 0, generator) for b in range(10))
    assert reads == [], "\n".join(reads[:5])
    assert seen == 2 * 8 * 10  # the tally counts both mixtures of each sampled image
    loss_sum, correct, first_bad, _ = steps.tally.read()
    assert math.isfinite(loss_sum) and 0 <= correct <= seen and first_bad == -1


def test_an_epoch_is_deterministic_given_the_seed() -> None:
    runs = []
    for _ in range(2):
        data, method, model, stage, optimizer, generator = setup_cell()
        record = train_epoch(EpochContext(stage, optimizer, method, data, generator, 16, "glmc"), 0)
        runs.append((record["train_loss"], record["train_acc"], [p.detach().clone() for p in model.parameters()]))
    assert runs[0][:2] == runs[1][:2]
    assert all(torch.equal(p, q) for p, q in zip(runs[0][2], runs[1][2]))


def test_a_wrong_pairing_is_refused_when_params_are_checked_without_torch() -> None:
    from ltgrid.methods.validation import validate_method

    with pytest.raises(PartError, match="method 'bad': loss 'glmc' needs mixing {name: glmc}, got mixing 'mixup'"):
        validate_method("bad", {"loss": {"name": "glmc"}, "mixing": {"name": "mixup"}})
    validate_method("glmc", SPEC)
