"""ResNet-32 for CIFAR: the paper's size, shapes, option-A shortcuts, channels_last, registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ltgrid.models import MODELS, NormedLinear, build_model, count_parameters
from ltgrid.models.resnet_cifar import ResNetCifar, ShortcutA


def test_resnet32_has_the_papers_parameter_count() -> None:
    model = build_model("resnet32", num_classes=10, in_channels=3)
    assert isinstance(model.classifier, nn.Linear)
    assert count_parameters(model) == 464_154
    # 100 classes only grows the classifier: 64 * 90 more weights, 90 more biases
    assert count_parameters(build_model("resnet32", num_classes=100, in_channels=3)) == 464_154 + 64 * 90 + 90


def test_structure_three_stages_of_five_blocks() -> None:
    model = ResNetCifar(num_classes=10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 31  # 1 stem + 3 stages * 5 blocks * 2; option-A shortcuts add none
    assert sorted({c.out_channels for c in convs}) == [16, 32, 64]
    assert sum(isinstance(m, ShortcutA) for m in model.modules()) == 2


@pytest.mark.parametrize("depth", [20, 32, 44, 56])
def test_depths_registered(depth: int) -> None:
    model = MODELS.build(f"resnet{depth}", num_classes=7, in_channels=3)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == depth - 1


def test_shapes_features_and_normed_classifier() -> None:
    torch.manual_seed(0)
    model = build_model("resnet32", num_classes=100, in_channels=3, normed_classifier=True).eval()
    x = torch.randn(4, 3, 32, 32)
    feats = model.forward_features(x)
    assert feats.shape == (4, 64)
    logits = model(x)
    assert logits.shape == (4, 100)
    assert isinstance(model.classifier, NormedLinear)
    assert logits.abs().max() <= 1.0 + 1e-5  # cosine logits


def test_shortcut_a_subsamples_and_zero_pads() -> None:
    x = torch.arange(2 * 16 * 4 * 4, dtype=torch.float32).reshape(2, 16, 4, 4)
    y = ShortcutA(16, 32)(x)
    assert y.shape == (2, 32, 2, 2)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert not y[:, :8].any() and not y[:, 24:].any()


def test_channels_last_matches_contiguous() -> None:
    torch.manual_seed(0)
    model = ResNetCifar(num_classes=10).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_train_step_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    model = ResNetCifar(num_classes=10, in_channels=1)
    loss = nn.functional.cross_entropy(model(torch.randn(4, 1, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_kaiming_normal_init() -> None:
    torch.manual_seed(0)
    conv = ResNetCifar(num_classes=10).stages[-1].conv2  # 64 -> 64, 3x3: fan_in 576
    assert abs(conv.weight.std().item() - (2 / 576) ** 0.5) < 0.003


@pytest.mark.parametrize("depth", [0, 31, 33])
def test_bad_depth_named(depth: int) -> None:
    with pytest.raises(ValueError, match=f"got {depth}"):
        ResNetCifar(num_classes=10, depth=depth)
