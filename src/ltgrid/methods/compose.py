"""A method is a named composition of parts chosen in params: loss, mixing, sampler, schedule.

Params spell a method as, for example::

    unimix_bayias:
      loss: {name: bayias}
      mixing: {name: unimix, alpha: 0.8, tau: -0.5}
      sampler: {name: instance}
      schedule: {mix_off_last: 0}

Parts are looked up in the registries by name, so adding a method is a YAML entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ltgrid.methods.base import Loss, MixedBatch, Mixing, Sampler, mixed_loss
from ltgrid.methods.losses import LOSSES
from ltgrid.methods.mixing import MIXINGS
from ltgrid.methods.samplers import SAMPLERS

PART_REGISTRIES = {"loss": LOSSES, "mixing": MIXINGS, "sampler": SAMPLERS}
DEFAULT_PARTS: dict[str, dict[str, Any]] = {
    "loss": {"name": "ce"},
    "mixing": {"name": "none"},
    "sampler": {"name": "instance"},
}


@dataclass
class Schedule:
    """When parts switch on or off during training (epochs are 0-based)."""

    mix_off_last: int = 0  # stop mixing for the last K epochs

    def mixing_active(self, epoch: int, num_epochs: int) -> bool:
        return epoch < num_epochs - self.mix_off_last


@dataclass
class Method:
    name: str
    loss: Loss
    mixing: Mixing
    sampler: Sampler
    schedule: Schedule = field(default_factory=Schedule)
    _mixing_on: bool = True

    def start_epoch(self, epoch: int, num_epochs: int) -> None:
        self.loss.set_epoch(epoch, num_epochs)
        self._mixing_on = self.schedule.mixing_active(epoch, num_epochs)

    def mix(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixedBatch:
        if not self._mixing_on:
            return MixedBatch.unmixed(x, y)
        return self.mixing(x, y, generator)

    def loss_value(self, logits: Tensor, batch: MixedBatch) -> Tensor:
        return mixed_loss(self.loss, logits, batch)

    def eval_logits(self, logits: Tensor) -> Tensor:
        return self.loss.eval_logits(logits)

    def to(self, device: torch.device | str) -> "Method":
        self.loss.to(device)
        return self


def part_spec(spec: dict[str, Any], part: str) -> dict[str, Any]:
    return dict(spec.get(part) or DEFAULT_PARTS[part])


def validate_method(name: str, spec: dict[str, Any]) -> None:
    """Fail early, naming the method and the unknown part, before any job runs."""
    for part, registry in PART_REGISTRIES.items():
        part_name = part_spec(spec, part).get("name")
        if part_name not in registry:
            raise ValueError(
                f"method {name!r}: {part}.name = {part_name!r} is not a known {part}; "
                f"known: {', '.join(registry.names())}"
            )


def build_method(name: str, spec: dict[str, Any], class_counts: Tensor) -> Method:
    validate_method(name, spec)
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    parts = {}
    for part, registry in PART_REGISTRIES.items():
        kwargs = part_spec(spec, part)
        part_name = kwargs.pop("name")
        parts[part] = registry.build(part_name, class_counts=counts, **kwargs)
    schedule = Schedule(**(spec.get("schedule") or {}))
    return Method(name=name, schedule=schedule, **parts)
