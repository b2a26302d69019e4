"""Instance-balanced sampling: the plain shuffled epoch."""

from __future__ import annotations

import torch
from torch import Tensor

from ltgrid.methods.base import Sampler


class InstanceBalanced(Sampler):
    """Every training image once per epoch, in a seeded random order."""

    def epoch_indices(self, labels: Tensor, epoch: int, num_epochs: int, generator: torch.Generator) -> Tensor:
        return torch.randperm(len(labels), generator=generator, device="cpu").to(labels.device)
