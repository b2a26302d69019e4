"""The model registry: params name a model; every model exposes `forward_features` and `classifier`."""

from __future__ import annotations

from torch import nn

from ltgrid.models.base import Classifier, NormedLinear  # noqa: F401  (ltgrid.models exports them)
from ltgrid.models.multi_expert import ResNet32Experts, resnet32_experts  # noqa: F401
from ltgrid.models.names import MODEL_NAMES
from ltgrid.models.resnet import TorchvisionResNet, resnet10, resnet34_cifar, resnet50  # noqa: F401
from ltgrid.models.resnet_cifar import ResNetCifar, resnet20, resnet32, resnet44, resnet56  # noqa: F401
from ltgrid.models.resnet_glmc import digits_cnn_glmc, resnet32_glmc
from ltgrid.models.small import DigitsCNN
from ltgrid.registry import Registry

MODELS: Registry[Classifier] = Registry("model")
MODELS.register("digits_cnn")(DigitsCNN)
MODELS.register("resnet20")(resnet20)
MODELS.register("resnet32")(resnet32)
MODELS.register("resnet44")(resnet44)
MODELS.register("resnet56")(resnet56)
MODELS.register("resnet10")(resnet10)
MODELS.register("resnet50")(resnet50)
MODELS.register("resnet34_cifar")(resnet34_cifar)
MODELS.register("resnet32_experts")(resnet32_experts)
MODELS.register("resnet32_glmc")(resnet32_glmc)
MODELS.register("digits_cnn_glmc")(digits_cnn_glmc)
if MODELS.names() != sorted(MODEL_NAMES):
    raise RuntimeError(f"models registered {MODELS.names()} but ltgrid/models/names.py lists {sorted(MODEL_NAMES)}")


def build_model(name: str, num_classes: int, in_channels: int, normed_classifier: bool = False) -> Classifier:
    return MODELS.build(name, num_classes=num_classes, in_channels=in_channels, normed_classifier=normed_classifier)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

