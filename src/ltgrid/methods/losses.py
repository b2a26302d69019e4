"""Losses on logits, one class each, registered by name (see base.Loss)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ltgrid.methods.base import Loss
from ltgrid.registry import Registry

LOSSES: Registry[Loss] = Registry("loss")


@LOSSES.register("ce")
class CrossEntropy(Loss):
    """Plain softmax cross-entropy."""

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits, target, reduction="none")


@LOSSES.register("bayias")
class Bayias(Loss):
    """Bayias: CE(z + log pi - log p_test, y) at train time; raw z at test time.

    `test_prior` (optional) is a list of class weights; uniform when absent.
    """

    def __init__(self, class_counts: Tensor, test_prior: list[float] | None = None) -> None:
        super().__init__(class_counts)
        n = len(class_counts)
        if test_prior is None:
            log_test = torch.full((n,), -math.log(n))
        else:
            p = torch.tensor(test_prior, dtype=torch.float64)
            if p.shape != (n,) or bool((p <= 0).any()):
                raise ValueError(f"bayias test_prior must be {n} positive numbers, got {test_prior}")
            log_test = torch.log(p / p.sum()).float()
        self.register_buffer("log_test_prior", log_test.float())

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        shift = (self.log_prior - self.log_test_prior).to(logits.dtype)
        return F.cross_entropy(logits + shift, target, reduction="none")
