"""What every model offers the trainer: features, a swappable final `classifier`."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class NormedLinear(nn.Module):
    """Cosine classifier (unit-norm features and weights); LDAM needs it, scale is in the loss."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-1, 1).renorm_(2, 0, 1e-5).mul_(1e5))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).t()


class Classifier(nn.Module, ABC):
    """Base class: subclasses set `self.classifier` and implement `forward_features`."""

    classifier: nn.Module

    @abstractmethod
    def forward_features(self, x: Tensor) -> Tensor:
        """Penultimate features, the classifier's input."""

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.forward_features(x))


def make_classifier(in_features: int, num_classes: int, normed: bool) -> nn.Module:
    return NormedLinear(in_features, num_classes) if normed else nn.Linear(in_features, num_classes)
