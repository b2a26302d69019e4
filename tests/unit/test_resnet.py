"""ResNet-10 / ResNet-50 (torchvision family) as Classifiers: sizes, shapes, swappable classifier."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ltgrid.models import MODELS, NormedLinear, build_model, count_parameters
from ltgrid.models.names import EXPERTS, MODEL_NAMES, MODEL_OUTPUTS, MODEL_TABLE
from ltgrid.registry import argument_problem
from ltgrid.registry import load as builder


def test_resnet50_is_torchvisions_resnet50():
    import torchvision

    ours = build_model("resnet50", 1000, 3)
    theirs = torchvision.models.resnet50(weights=None)
    assert count_parameters(ours) == count_parameters(theirs) == 25_557_032
    shapes = sorted(tuple(p.shape) for p in ours.parameters())
    assert shapes == sorted(tuple(p.shape) for p in theirs.parameters())


def test_resnet10_has_one_basic_block_per_stage():
    model = build_model("resnet10", 1000, 3)
    assert count_parameters(model) == 5_418_792
    stages = [m for m in model.body if isinstance(m, nn.Sequential)]
    assert [len(s) for s in stages] == [1, 1, 1, 1]
    assert type(stages[0][0]).__name__ == "BasicBlock" and model.feature_dim == 512


@pytest.mark.parametrize("name,dim", [("resnet10", 512), ("resnet50", 2048)])
def test_features_and_logits(name, dim):
    model = build_model(name, 7, 3).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        logits = model(x)
    assert feats.shape == (2, dim) and logits.shape == (2, 7)
    assert torch.allclose(model.classifier(feats), logits)


def test_normed_classifier_and_other_channel_counts():
    model = build_model("resnet10", 5, 1, normed_classifier=True).eval()
    assert isinstance(model.classifier, NormedLinear)
    with torch.no_grad():
        logits = model(torch.randn(3, 1, 32, 32))
    assert logits.shape == (3, 5) and logits.abs().max() <= 1.0 + 1e-5  # cosine scores


def test_registered_and_from_scratch():
    assert {"resnet10", "resnet50"} <= set(MODELS.names())
    a, b = build_model("resnet10", 3, 3), build_model("resnet10", 3, 3)
    assert not torch.equal(a.body[0].weight, b.body[0].weight)  # random init, no pretrained weights


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="num_classes"):
        build_model("resnet10", 0, 3)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_builder_in_the_table_takes_what_build_model_passes(name) -> None:
    """models/names.py is the one table of models: each builder is where it says and takes exactly
    (num_classes, in_channels, normed_classifier), so build_model can build any of them."""
    assert argument_problem(builder(MODEL_TABLE[name].builder), ("num_classes", "in_channels", "normed_classifier")) is None
    assert MODELS.get(name) is builder(MODEL_TABLE[name].builder)  # (a plugin may register more models)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_returns_the_outputs_names_py_declares(name) -> None:
    """params check a loss against a model's declared outputs without torch (models/names.py):
    the declaration must be what the built model returns."""
    num_classes = 5
    model = build_model(name, num_classes, 1 if "digits" in name else 3).eval()
    x = torch.zeros(2, 1, 8, 8) if "digits" in name else torch.zeros(2, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
    kind = MODEL_OUTPUTS[name]
    if kind == "logits":
        assert out.shape == (2, num_classes)
    elif kind == "experts":
        assert out.shape == (2, EXPERTS[name], num_classes)
    else:
        assert out.dim() == 2 and out.shape[1] > 2 * num_classes
