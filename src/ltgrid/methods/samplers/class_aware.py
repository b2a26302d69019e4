"""Samplers that pick a class with probability p_c, then an image uniformly within it.

An epoch is len(labels) draws with replacement; each image's draw probability is
p_{y} / n_{y}, so one torch.multinomial call does the whole epoch.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor

from ltgrid.methods.base import Sampler


def power_class_probs(class_counts: Tensor, q: float) -> Tensor:
    """p_c proportional to n_c^q (q = 1 instance, 1/2 square-root, 0 class-balanced)."""
    weights = torch.as_tensor(class_counts, dtype=torch.float64) ** q
    return weights / weights.sum()


def progressive_class_probs(class_counts: Tensor, epoch: int, num_epochs: int) -> Tensor:
    """Kang et al. 2020: p_c(t) = (1 - t/T) n_c / N + (t/T) / C, t the 0-based epoch, T the epochs."""
    if num_epochs <= 0 or not 0 <= epoch < num_epochs:
        raise ValueError(f"progressive sampler needs 0 <= epoch < num_epochs, got epoch={epoch}, num_epochs={num_epochs}")
    t = epoch / num_epochs
    return (1 - t) * power_class_probs(class_counts, 1.0) + t * power_class_probs(class_counts, 0.0)


class ClassAwareSampler(Sampler):
    """Base: subclasses give `class_probs(epoch, num_epochs)`; draws one epoch of positions."""

    @abstractmethod
    def class_probs(self, epoch: int, num_epochs: int) -> Tensor:
        """Probability of drawing each class at this epoch."""

    def epoch_indices(self, labels: Tensor, epoch: int, num_epochs: int, generator: torch.Generator) -> Tensor:
        labels_cpu = labels.cpu().long()
        num_classes = len(self.class_counts)
        if len(labels_cpu) == 0:
            raise ValueError("cannot sample an epoch from an empty label set")
        if int(labels_cpu.min()) < 0 or int(labels_cpu.max()) >= num_classes:
            raise ValueError(f"labels must lie in [0, {num_classes}), got range "
                             f"[{int(labels_cpu.min())}, {int(labels_cpu.max())}]")
        present = torch.bincount(labels_cpu, minlength=num_classes).to(torch.float64)
        probs = self.class_probs(epoch, num_epochs) * (present > 0)
        per_image = (probs / present.clamp_min(1))[labels_cpu]
        drawn = torch.multinomial(per_image, len(labels_cpu), replacement=True, generator=generator)
        return drawn.to(labels.device)


class ClassBalanced(ClassAwareSampler):
    """Each class equally likely (p_c = 1/C), then uniform within the class."""

    def class_probs(self, epoch: int, num_epochs: int) -> Tensor:
        return power_class_probs(self.class_counts, 0.0)


class SquareRoot(ClassAwareSampler):
    """p_c proportional to sqrt(n_c) (Mahajan et al. 2018; Kang et al. 2020)."""

    def class_probs(self, epoch: int, num_epochs: int) -> Tensor:
        return power_class_probs(self.class_counts, 0.5)


class ProgressivelyBalanced(ClassAwareSampler):
    """From instance-balanced (first epoch) towards class-balanced (Kang et al. 2020)."""

    def class_probs(self, epoch: int, num_epochs: int) -> Tensor:
        return progressive_class_probs(self.class_counts, epoch, num_epochs)
