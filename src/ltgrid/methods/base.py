"""The parts a method is composed of: a loss, a mixing rule, a sampler (and a schedule).

Every part is built from its params entry plus the training class counts, so the
prior-aware parts (Bayias, UniMix, class-balanced samplers, ...) see the same prior.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn


def check_class_counts(class_counts: Tensor) -> Tensor:
    """Counts as float64, 1-D and positive; every prior-aware formula divides by or logs them."""
    counts = torch.as_tensor(class_counts).to(torch.float64)
    if counts.dim() != 1 or len(counts) < 2:
        raise ValueError(f"class_counts must be 1-D with at least 2 classes, got shape {tuple(counts.shape)}")
    if bool((counts <= 0).any()):
        raise ValueError(f"class_counts must all be positive, got {counts.tolist()}")
    return counts


class Loss(nn.Module, ABC):
    """A per-sample loss on raw logits: forward returns shape (N,), unreduced.

    Subclasses implement `per_sample` (their equation); this base multiplies it by a
    per-class weight of the target (class-balanced re-weighting, possibly deferred) and
    applies a post-hoc logit adjustment at test time, so those options compose with
    every loss. `mixed_loss` averages, so mixing rules can weight each sample.
    """

    needs_normed_classifier: ClassVar[bool] = False
    # False: the classifier's bias is kept out of weight decay (Cui et al.'s sigmoid losses, with
    # classifier_bias_init; methods/head.py applies both when the model is built)
    decays_classifier_bias: ClassVar[bool] = True

    def __init__(self, class_counts: Tensor) -> None:
        super().__init__()
        counts = check_class_counts(class_counts)
        self.register_buffer("class_counts", counts)
        # The weight each target class gets now; ones unless a weighting is active.
        self.register_buffer("class_weight", torch.ones(len(counts)))
        self.register_buffer("_scheduled_weight", torch.ones(len(counts)))
        self.weight_from_epoch: int | None = None
        self.posthoc_tau = 0.0
        self.reduction = "mean"  # or "weighted_mean": divide by the batch's summed weights (LossOptions)

    @property
    def num_classes(self) -> int:
        return len(self.class_counts)

    @property
    def log_prior64(self) -> Tensor:
        """log pi in float64: shifts built from it are rounded to float32 once, at the end."""
        counts = self.class_counts
        return torch.log(counts / counts.sum())

    @property
    def log_prior(self) -> Tensor:
        return self.log_prior64.to(torch.float32)

    def schedule_class_weight(self, weight: Tensor, from_epoch: int) -> None:
        """Use `weight[y]` on each sample's loss from epoch `from_epoch` on (0: from the start)."""
        if weight.shape != (self.num_classes,):
            raise ValueError(f"class weight must have shape ({self.num_classes},), got {tuple(weight.shape)}")
        if from_epoch < 0:
            raise ValueError(f"weighting start epoch must be >= 0, got {from_epoch}")
        device = self.class_weight.device
        self._scheduled_weight = weight.to(device=device, dtype=torch.float32)
        self.weight_from_epoch = from_epoch
        if from_epoch == 0:
            self.class_weight = self._scheduled_weight.clone()

    def set_epoch(self, epoch: int, num_epochs: int) -> None:
        """Called at the start of every epoch: deferred re-weighting switches on here."""
        if self.weight_from_epoch is None:
            return
        on = epoch >= self.weight_from_epoch
        self.class_weight = self._scheduled_weight.clone() if on else torch.ones_like(self._scheduled_weight)

    def joint_logits(self, outputs: Tensor) -> Tensor:
        """The model's outputs as one (N, C) logit per image, before any test-time adjustment: what
        training accuracy is taken on. The identity, except for losses that combine experts (BalPoE)."""
        return outputs

    def eval_logits(self, logits: Tensor) -> Tensor:
        """Logits used for prediction at test time: z - posthoc_tau * log pi (identity at tau 0)."""
        logits = self.joint_logits(logits)
        if self.posthoc_tau == 0:
            return logits
        return logits - self.posthoc_tau * self.log_prior.to(logits.device, logits.dtype)

    def classifier_bias_init(self) -> float | None:
        """The constant a freshly built classifier's bias starts from; None keeps the model's own."""
        return None

    @abstractmethod
    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        """The loss of each sample, unweighted and unreduced (each loss writes its equation here)."""

    def weight_sum(self, y_a: Tensor, y_b: Tensor, lam: Tensor) -> Tensor:
        """sum_i lam_i w_{y_a,i} + (1 - lam_i) w_{y_b,i}: the denominator of the weighted mean."""
        weight = self.class_weight.to(lam.dtype)
        return (lam * weight[y_a] + (1 - lam) * weight[y_b]).sum()

    def batch_value(self, outputs: Tensor, batch: MixedBatch) -> Tensor:
        """The batch's loss from the model's outputs: the (weighted) mixed mean of `per_sample`.
        A loss with terms across samples (GLMC's consistency of two mixed views) overrides it."""
        return mixed_loss(self, outputs, batch)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(f"logits must have shape (N, {self.num_classes}), got {tuple(logits.shape)}")
        loss = self.per_sample(logits, target)
        weight = self.class_weight.to(loss.dtype)
        return loss * weight[target]


@dataclass
class MixedBatch:
    """A (possibly mixed) batch: the loss is lam * L(f(x), y_a) + (1 - lam) * L(f(x), y_b).

    `lam` holds one label weight per sample (the weight of y_a); unmixed batches have
    lam = 1, y_b = y_a and `mixed` False, so their loss is computed once. `mixed` is a
    Python flag, not a test of the tensors, so the training step never reads them back.
    """

    x: Tensor
    y_a: Tensor
    y_b: Tensor
    lam: Tensor
    mixed: bool = True

    @staticmethod
    def unmixed(x: Tensor, y: Tensor) -> "MixedBatch":
        return MixedBatch(x, y, y, torch.ones(len(y), device=x.device, dtype=x.dtype), mixed=False)


Draws = dict[str, Tensor]  # a batch's mixing draws by name, one row per sample, made on the CPU


class Mixing:
    """Turns a batch into a MixedBatch in two halves, so the training step never waits on the host.

    `draw(y, generator)` makes the random choices of one batch on the CPU, from the labels
    the trainer holds there (the sampled order) and the trainer's seeded CPU generator, so a
    cell gets the same batches on any device; the trainer draws a whole epoch before its
    first step and moves the draws to the device in one copy per name. `apply(x, y, draws)`
    mixes on the device with tensor ops only. This base class is the identity ("none").
    The default `apply` is the convex blend every rule here uses: `partner` (positions in
    the batch), `factor` (weight of x_i) and `weight` (label weight of y_i).
    """

    def __init__(self, class_counts: Tensor) -> None:
        self.class_counts = check_class_counts(class_counts)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__ and "draw" not in cls.__dict__:
            raise TypeError(f"mixing rule {cls.__name__}: implement draw(y, generator) (and apply if it is not "
                            "a convex blend) instead of __call__, so the trainer can draw an epoch ahead")

    def streams(self, order: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor | None:
        """Training positions to gather for each sampled one, (k, len(order)) on the CPU, or None (the
        order itself). Row r of batch b is gathered as block r of one batch of k * batch_size images,
        each augmented on its own, so a rule can take several views of an image or partners from
        outside the batch (GLMC: two views of the batch and of a re-balanced draw); `labels` are
        the whole training split's, the generator the cell's."""
        return None

    def draw(self, y: Tensor, generator: torch.Generator) -> Draws | None:
        """The batch's draws from CPU labels `y`; None when the rule leaves batches alone."""
        return None

    def apply(self, x: Tensor, y: Tensor, draws: Draws) -> MixedBatch:
        """Mix on the device from draws already there (no host reads)."""
        partner = draws["partner"]
        f = draws["factor"].to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return MixedBatch(f * x + (1 - f) * x[partner], y, y[partner], draws["weight"].to(x.dtype))

    def __call__(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixedBatch:
        """One batch in one go (tests, benchmarks): draw from `y` (copied to the CPU), then apply."""
        draws = self.draw(y.cpu(), generator)
        if draws is None:
            return MixedBatch.unmixed(x, y)
        return self.apply(x, y, {k: v.to(x.device) for k, v in draws.items()})


class Sampler(ABC):
    """Chooses the order (and multiplicity) of training indices for one epoch."""

    def __init__(self, class_counts: Tensor) -> None:
        self.class_counts = check_class_counts(class_counts)

    @abstractmethod
    def epoch_indices(
        self, labels: Tensor, epoch: int, num_epochs: int, generator: torch.Generator
    ) -> Tensor:
        """Positions into the training set for one epoch."""


def mixed_loss(loss: Loss, logits: Tensor, batch: MixedBatch) -> Tensor:
    """Batch mean of lam * L(z, y_a) + (1 - lam) * L(z, y_b), weighting per sample before reducing;
    with `reduction = weighted_mean` the sum is divided by the summed weights instead of N."""
    lam = batch.lam.to(logits.dtype)
    per_sample = lam * loss(logits, batch.y_a)
    if batch.mixed:
        per_sample = per_sample + (1 - lam) * loss(logits, batch.y_b)
    if loss.reduction == "weighted_mean":
        return per_sample.sum() / loss.weight_sum(batch.y_a, batch.y_b, lam)
    return per_sample.mean()
