"""Composition: build/validate by name, schedules, stage 2, and the docs gallery entries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml

from ltgrid.methods import MixedBatch, Schedule, Stage2Spec, build_method, tau_normalize, validate_method
from ltgrid.methods.spec import method_parts
from ltgrid.train.loop import gathered_order

COUNTS = torch.tensor([100.0, 10.0, 1.0])
GALLERY = Path(__file__).resolve().parents[2] / "docs" / "methods.md"


def gallery() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", GALLERY.read_text(), flags=re.S)
    return yaml.safe_load(blocks[-1])


def test_defaults_are_ce_unmixed_instance() -> None:
    method = build_method("ce", {}, COUNTS)
    assert type(method.loss).__name__ == "CrossEntropy" and method.stage2 is None
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 2, 0])
    assert method.mixing.draw(y, torch.Generator().manual_seed(0)) is None  # "none": batches left alone
    assert torch.equal(method.mixing(x, y, torch.Generator().manual_seed(0)).x, x) and not method.needs_normed_classifier


def test_every_gallery_entry_validates_builds_and_trains_one_step() -> None:
    entries = gallery()
    expected = {"ce", "focal", "cb_focal", "cb_focal_ldam", "cb_softmax_focal", "ldam_drw", "la", "balanced_softmax",
                "bayias", "mixup", "mixup_per_sample", "remix", "unimix", "unimix_bayias", "crt", "tau_norm", "lws",
                "mislas", "ce_wd", "wb"}
    assert expected <= set(entries)
    g = torch.Generator().manual_seed(0)
    for name, spec in entries.items():
        validate_method(name, spec)
        method = build_method(name, spec, COUNTS).to("cpu")
        assert method.needs_normed_classifier == (spec["loss"]["name"] in ("ldam", "balpoe"))
        method.start_epoch(0, 2)
        labels = torch.tensor([0] * 10 + [1] * 3 + [2])
        idx = method.sampler.epoch_indices(labels, 0, 2, g)
        rows = method.mixing.streams(idx, labels, g)  # GLMC gathers four images a sampled one, as one batch
        idx = idx if rows is None else gathered_order(rows, len(idx))
        x, y = torch.randn(len(idx), 5, 1, 1), labels[idx]
        experts = getattr(method.loss, "num_experts", None)  # a loss for experts scores (N, K, C) outputs
        glmc = spec["loss"]["name"] == "glmc"  # GLMC's outputs [z, z_cb, h, u]: 2 x 3 classes + 2 x 2 here
        w = torch.zeros(5, 10 if glmc else 3 * (experts or 1), requires_grad=True)
        out = (lambda z: z.view(len(z), experts, 3)) if experts else (lambda z: z)
        batch = method.mixing(x, y, g)  # the epoch starts mixed (no mix_off_last in the gallery)
        loss = method.loss_value(out(batch.x.flatten(1) @ w), batch)
        loss.backward()
        assert torch.isfinite(loss) and w.grad is not None, name
        assert method.eval_logits(out(x.flatten(1) @ w.detach())).shape == (len(idx), 3)


def test_mix_off_last_stops_mixing_for_the_last_epochs() -> None:
    spec = {"mixing": {"name": "unimix", "alpha": 1.0, "tau": 0.0}, "schedule": {"mix_off_last": 2}}
    method = build_method("unimix", spec, COUNTS)
    mixed = []
    for epoch in range(5):
        method.start_epoch(epoch, 5)
        mixed.append(method.mixing_active)  # what the epoch plan asks before drawing any mixing
    assert mixed == [True, True, True, False, False]
    assert Schedule(mix_off_last=0).mixing_active(4, 5)


def test_mixed_batch_loss_weights_y_a_by_lam() -> None:
    method = build_method("ce", {}, COUNTS)
    z = torch.tensor([[1.0, 0.0, 0.0]])
    ce = lambda c: -torch.log_softmax(z, 1)[0, c]  # noqa: E731
    got = method.loss_value(z, MixedBatch(z, torch.tensor([0]), torch.tensor([2]), torch.tensor([0.25])))
    assert got.item() == pytest.approx((0.25 * ce(0) + 0.75 * ce(2)).item(), rel=1e-6)


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ({"loss": {"name": "nosuch"}}, ["'m'", "loss.name", "'nosuch'"]),
        ({"loss": {"name": "focal", "gama": 2}}, ["'m'", "loss 'focal'", "'gama'"]),
        ({"loss": {"name": "ce", "weighting": "inverse"}}, ["'m'", "loss 'ce'", "'inverse'"]),
        ({"loss": {"name": "ce", "drw_epoch": -1, "weighting": "class_balanced"}}, ["'m'", "drw_epoch", "-1"]),
        ({"mixing": {"name": "unimix", "kappa": 3}}, ["'m'", "mixing 'unimix'", "'kappa'"]),
        ({"mixing": {"alpha": 1.0}}, ["'m'", "mixing has no 'name'"]),
        ({"sampler": {"name": "balanced"}}, ["'m'", "sampler.name", "'balanced'"]),
        ({"sampler": {"name": "instance", "class_counts": [1, 2]}}, ["'m'", "'class_counts'"]),
        ({"schedule": {"mix_off": 3}}, ["'m'", "schedule", "mix_off"]),
        ({"schedule": {"mix_off_last": -2}}, ["'m'", "mix_off_last", "-2"]),
        ({"stage2": {"kind": "lwss"}}, ["'m'", "stage2.kind", "'lwss'"]),
        ({"stage2": {"kind": "crt", "epoch": 5}}, ["'m'", "stage2", "'epoch'"]),
        ({"stage2": {"kind": "crt", "sampler": {"name": "nosuch"}}}, ["'m'", "stage2.sampler.name", "'nosuch'"]),
        ({"losses": {"name": "ce"}}, ["'m'", "'losses'"]),
    ],
)
def test_validate_method_names_the_method_part_and_bad_value(spec: dict, fragments: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        validate_method("m", spec)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_tau_normalize_by_hand() -> None:
    w = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    assert torch.allclose(tau_normalize(w, 1.0), torch.tensor([[0.6, 0.8], [0.0, 1.0]]))
    assert torch.equal(tau_normalize(w, 0.0), w)
    assert torch.allclose(tau_normalize(w, 0.5), w / torch.tensor([[5.0**0.5], [2.0**0.5]]))
    with pytest.raises(ValueError, match="-1"):
        tau_normalize(w, -1)


def test_stage2_spec_defaults_and_errors() -> None:
    """A method's stage 2, filled by the params check (method_parts) and built into a Stage2Spec."""
    spec = build_method("m", {"stage2": {"kind": "crt"}}, COUNTS).stage2
    assert isinstance(spec, Stage2Spec)
    assert spec.sampler == {"name": "class_balanced"} and spec.epochs == 10 and spec.lr == 0.1
    with pytest.raises(ValueError, match="'kind'"):
        method_parts("m", {"stage2": {"epochs": 3}})
    with pytest.raises(ValueError, match="stage2.lr"):
        method_parts("m", {"stage2": {"kind": "crt", "lr": 0}})
    with pytest.raises(ValueError, match="'q'"):
        method_parts("m", {"stage2": {"kind": "crt", "sampler": {"name": "square_root", "q": 1}}})


def test_the_library_baselines_are_their_authors_forms() -> None:
    """Issue 23: cb_focal is Cui et al.'s sigmoid focal with its prior bias; cb_focal_ldam the LDAM-DRW
    code's FocalLoss(weight=w); mixup one factor per batch; crt / lws / mislas the authors' class-aware
    sampler, 4 images a visit, epochs as Kang et al.'s and MiSLAS's loops count them."""
    entries = gallery()
    build = lambda name: build_method(name, entries[name], COUNTS)  # noqa: E731
    cb = build("cb_focal")
    assert type(cb.loss).__name__ == "SigmoidFocal" and cb.loss.classifier_bias_init() == pytest.approx(-0.6931471805599453)
    assert type(build("cb_focal_ldam").loss).__name__ == "Focal" and build("cb_focal_ldam").loss.weight_in_modulator
    assert not build("cb_softmax_focal").loss.weight_in_modulator
    assert build("mixup").mixing.per == "batch" and build("mixup_per_sample").mixing.per == "sample"
    for name, epoch in (("crt", "floor_batches"), ("lws", "floor_batches"), ("mislas", "ceil_batches_plus_one")):
        sampler = build(name).stage2.sampler
        assert sampler == {"name": "class_cycle", "per_visit": 4, "epoch": epoch, "batch": 128}, name
    assert build("mislas").stage2.shift_bn is False  # every CIFAR-10 config of theirs
    assert build("crt").stage2.shift_bn and build("lws").stage2.shift_bn  # their feature model runs in train()
