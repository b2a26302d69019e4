"""Model registry: params name a model; every model exposes `forward_features` and `classifier`."""

from __future__ import annotations

from torch import nn

from ltgrid.models.base import Classifier, NormedLinear
from ltgrid.models.small import DigitsCNN
from ltgrid.registry import Registry

MODELS: Registry[Classifier] = Registry("model")
MODELS.register("digits_cnn")(DigitsCNN)


def build_model(name: str, num_classes: int, in_channels: int, normed_classifier: bool = False) -> Classifier:
    return MODELS.build(name, num_classes=num_classes, in_channels=in_channels, normed_classifier=normed_classifier)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["MODELS", "Classifier", "NormedLinear", "build_model", "count_parameters"]
