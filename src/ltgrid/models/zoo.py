"""The model registry: the built-in models of names.py's table (each builder imported when first
built), and any a plugin registers; every model exposes `forward_features` and `classifier`."""

from __future__ import annotations

from torch import nn

from ltgrid.models.base import Classifier, NormedLinear  # noqa: F401  (ltgrid.models exports them)
from ltgrid.models.names import MODEL_TABLE
from ltgrid.models.resnet import TorchvisionResNet  # noqa: F401
from ltgrid.models.resnet_cifar import ResNetCifar  # noqa: F401
from ltgrid.registry import Registry

MODELS: Registry[Classifier] = Registry("model", {name: entry.builder for name, entry in MODEL_TABLE.items()})


def build_model(name: str, num_classes: int, in_channels: int, normed_classifier: bool = False) -> Classifier:
    return MODELS.build(name, num_classes=num_classes, in_channels=in_channels, normed_classifier=normed_classifier)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
