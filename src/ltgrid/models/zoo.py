"""The model registry: the built-in models of names.py's table, and any a plugin registers; every
model exposes `forward_features` and `classifier`."""

from __future__ import annotations

import importlib
from typing import Callable

from torch import nn

from ltgrid.models.base import Classifier, NormedLinear  # noqa: F401  (ltgrid.models exports them)
from ltgrid.models.names import MODEL_TABLE
from ltgrid.models.resnet import TorchvisionResNet  # noqa: F401
from ltgrid.models.resnet_cifar import ResNetCifar  # noqa: F401
from ltgrid.registry import Registry


def builder(path: str) -> Callable[..., Classifier]:
    """"module:function" -> the function."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


MODELS: Registry[Classifier] = Registry("model")
for _name, _entry in MODEL_TABLE.items():
    MODELS.register(_name)(builder(_entry.builder))


def build_model(name: str, num_classes: int, in_channels: int, normed_classifier: bool = False) -> Classifier:
    return MODELS.build(name, num_classes=num_classes, in_channels=in_channels, normed_classifier=normed_classifier)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
