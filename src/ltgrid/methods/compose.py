"""A method is a named composition of parts chosen in params: loss, mixing, sampler, schedule, stage2.

Parts are looked up in the registries by name, so adding a method is a YAML entry; their
arguments are checked and defaulted once, by spec.method_parts (see docs/methods.md for the
gallery).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ltgrid.errors import PartError
from ltgrid.methods.base import Loss, MixedBatch, Mixing, Sampler
from ltgrid.methods.catalog import pairing_problem
from ltgrid.methods.losses import LOSSES, build_loss
from ltgrid.methods.mixing import MIXINGS
from ltgrid.methods.samplers import SAMPLERS
from ltgrid.methods.schedule import Schedule
from ltgrid.methods.spec import method_parts
from ltgrid.methods.stage2 import Stage2Spec


@dataclass
class Method:
    """The parts of one method plus the per-epoch state the trainer drives."""

    name: str
    loss: Loss
    mixing: Mixing
    sampler: Sampler
    schedule: Schedule = field(default_factory=Schedule)
    stage2: Stage2Spec | None = None
    stage2_loss: Loss | None = None
    optimizer: dict[str, float] = field(default_factory=dict)
    _mixing_on: bool = True

    @property
    def needs_normed_classifier(self) -> bool:
        """True when the loss expects cosine logits (LDAM)."""
        return type(self.loss).needs_normed_classifier

    def start_epoch(self, epoch: int, num_epochs: int) -> None:
        self.loss.set_epoch(epoch, num_epochs)
        self._mixing_on = self.schedule.mixing_active(epoch, num_epochs)

    @property
    def mixing_active(self) -> bool:
        """Whether this epoch's batches are mixed (the schedule may switch mixing off)."""
        return self._mixing_on

    def loss_value(self, logits: Tensor, batch: MixedBatch) -> Tensor:
        return self.loss.batch_value(logits, batch)

    def joint_logits(self, outputs: Tensor) -> Tensor:
        """The model's outputs as one (N, C) logit (a multi-expert model's experts combined), unadjusted."""
        return self.loss.joint_logits(outputs)

    def eval_logits(self, logits: Tensor) -> Tensor:
        return self.loss.eval_logits(logits)

    def to(self, device: torch.device | str) -> "Method":
        self.loss.to(device)
        if self.stage2_loss is not None:
            self.stage2_loss.to(device)
        return self


def loss_needs_normed_classifier(parts: dict[str, Any]) -> bool:
    """Whether filled parts' loss wants the cosine classifier, read from its class (nothing built)."""
    return LOSSES.get(parts["loss"]["name"]).needs_normed_classifier


def _loss(method: str, entry: dict[str, Any], counts: Tensor) -> Loss:
    kwargs = dict(entry)
    try:
        return build_loss(kwargs.pop("name"), counts, **kwargs)
    except PartError as exc:  # a value only the real counts show wrong (a test prior's length)
        raise PartError(f"method {method!r}: {exc}") from None


def build_method(name: str, spec: dict[str, Any] | None, class_counts: Tensor) -> Method:
    """Every part from its params entry, checked and defaulted by `method_parts` first (tests,
    benchmarks and the params check build from a written entry)."""
    parts = method_parts(name, spec)
    problem = pairing_problem(parts)
    if problem:
        raise PartError(f"method {name!r}: {problem}")
    return assemble_method(name, parts, class_counts)


def assemble_method(name: str, parts: dict[str, Any], class_counts: Tensor) -> Method:
    """The method from parts already filled and checked (a resolved cell's `method_spec`, made by
    spec.filled_spec when the grid was read) and the training class counts: a part checks its
    arguments against the real counts here, nothing else is filled or checked."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    loss, mixing, sampler = _loss(name, parts["loss"], counts), dict(parts["mixing"]), dict(parts["sampler"])
    stage2 = Stage2Spec(**parts["stage2"]) if parts["stage2"] is not None else None
    return Method(
        name=name, loss=loss,
        mixing=MIXINGS.build(mixing.pop("name"), class_counts=counts, **mixing),
        sampler=SAMPLERS.build(sampler.pop("name"), class_counts=counts, **sampler),
        schedule=Schedule(**parts["schedule"]), stage2=stage2,
        stage2_loss=_loss(name, stage2.loss, counts) if stage2 is not None else None, optimizer=parts["optimizer"],
    )


def trial_build(name: str, spec: dict[str, Any] | None, num_classes: int = 10) -> None:
    """Build the method on long-tailed stand-in counts (100 down to 10) before the data exists,
    so a plugin part's own value checks stop the grid early; raises PartError naming the method."""
    i = torch.arange(num_classes, dtype=torch.float64)
    try:
        build_method(name, spec, torch.floor(100 * 10 ** (-i / (num_classes - 1))))
    except ValueError as exc:
        raise PartError(f"method {name!r}: {exc}") from None
