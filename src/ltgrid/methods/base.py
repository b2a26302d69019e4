"""The parts a method is composed of: a loss, a mixing rule, a sampler (and a schedule).

Every part is built from its params entry plus the training class counts, so the
prior-aware parts (Bayias, UniMix, class-balanced samplers, ...) see the same prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


class Loss(nn.Module):
    """A per-sample loss on raw logits: forward returns shape (N,), unreduced.

    The trainer weights and averages it, so mixing rules can weight each sample.
    """

    def __init__(self, class_counts: Tensor) -> None:
        super().__init__()
        self.register_buffer("class_counts", class_counts.to(torch.float64))

    @property
    def log_prior(self) -> Tensor:
        counts = self.class_counts
        return torch.log(counts / counts.sum()).to(torch.float32)

    def set_epoch(self, epoch: int, num_epochs: int) -> None:
        """Called at the start of every epoch (deferred re-weighting hooks in here)."""

    def eval_logits(self, logits: Tensor) -> Tensor:
        """Logits used for prediction at test time (identity unless post-hoc adjusted)."""
        return logits

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class MixedBatch:
    """A (possibly mixed) batch: the loss is lam * L(f(x), y_a) + (1 - lam) * L(f(x), y_b).

    `lam` holds one label weight per sample; unmixed batches have lam = 1, y_b = y_a.
    """

    x: Tensor
    y_a: Tensor
    y_b: Tensor
    lam: Tensor

    @staticmethod
    def unmixed(x: Tensor, y: Tensor) -> "MixedBatch":
        return MixedBatch(x, y, y, torch.ones(len(y), device=x.device, dtype=x.dtype))


class Mixing:
    """Turns a batch into a MixedBatch; vectorised over the batch, seeded by `generator`."""

    def __init__(self, class_counts: Tensor) -> None:
        self.class_counts = class_counts.to(torch.float64)

    def __call__(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixedBatch:
        return MixedBatch.unmixed(x, y)


class Sampler:
    """Chooses the order (and multiplicity) of training indices for one epoch."""

    def __init__(self, class_counts: Tensor) -> None:
        self.class_counts = class_counts.to(torch.float64)

    def epoch_indices(
        self, labels: Tensor, epoch: int, num_epochs: int, generator: torch.Generator
    ) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def mixed_loss(loss: Loss, logits: Tensor, batch: MixedBatch) -> Tensor:
    """Batch mean of lam * L(z, y_a) + (1 - lam) * L(z, y_b), weighting per sample before reducing."""
    lam = batch.lam.to(logits.dtype)
    per_sample = lam * loss(logits, batch.y_a)
    if not torch.equal(batch.y_a, batch.y_b) or bool((lam != 1).any()):
        per_sample = per_sample + (1 - lam) * loss(logits, batch.y_b)
    return per_sample.mean()
