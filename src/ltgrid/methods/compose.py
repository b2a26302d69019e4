"""A method is a named composition of parts chosen in params: loss, mixing, sampler, schedule, stage2.

Params spell a method as, for example::

    unimix_bayias:
      loss: {name: bayias}
      mixing: {name: unimix, alpha: 0.8, tau: -0.5}
      sampler: {name: instance}
      schedule: {mix_off_last: 0}

Parts are looked up in the registries by name, so adding a method is a YAML entry.
See docs/methods.md for the gallery.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import Tensor

from ltgrid.registry import argument_problem
from ltgrid.methods.base import Loss, MixedBatch, Mixing, Sampler, mixed_loss
from ltgrid.methods.losses import LOSSES, LossOptions, build_loss
from ltgrid.methods.mixing import MIXINGS
from ltgrid.methods.samplers import SAMPLERS
from ltgrid.methods.schedule import Schedule
from ltgrid.methods.stage2 import Stage2Spec

PART_REGISTRIES = {"loss": LOSSES, "mixing": MIXINGS, "sampler": SAMPLERS}
DEFAULT_PARTS: dict[str, dict[str, Any]] = {
    "loss": {"name": "ce"},
    "mixing": {"name": "none"},
    "sampler": {"name": "instance"},
}
SPEC_KEYS = (*PART_REGISTRIES, "schedule", "optimizer", "stage2", "description")  # description: prose, ignored
# What a method may change in its recipe's optimiser for stage 1 (weight balancing tunes weight decay).
OPTIMIZER_KEYS = ("lr", "weight_decay", "momentum")


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

    def mix(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixedBatch:
        if not self._mixing_on:
            return MixedBatch.unmixed(x, y)
        return self.mixing(x, y, generator)

    def unmixed(self, x: Tensor, y: Tensor) -> MixedBatch:
        return MixedBatch.unmixed(x, y)

    def loss_value(self, logits: Tensor, batch: MixedBatch) -> Tensor:
        return mixed_loss(self.loss, logits, batch)

    def eval_logits(self, logits: Tensor) -> Tensor:
        return self.loss.eval_logits(logits)

    def to(self, device: torch.device | str) -> "Method":
        self.loss.to(device)
        if self.stage2_loss is not None:
            self.stage2_loss.to(device)
        return self


def part_spec(spec: dict[str, Any], part: str) -> dict[str, Any]:
    return dict(spec.get(part) or DEFAULT_PARTS[part])


def _check_part(name: str, spec: dict[str, Any], part: str, where: str = "") -> None:
    """`where` prefixes the part in messages (e.g. "stage2." for the stage-2 loss)."""
    raw = spec.get(part)
    if raw is not None and not isinstance(raw, dict):
        raise ValueError(f"method {name!r}: {where}{part} must be a mapping with a 'name', got {raw!r}")
    kwargs = part_spec(spec, part)
    if "name" not in kwargs:
        raise ValueError(f"method {name!r}: {where}{part} has no 'name'; known: {', '.join(PART_REGISTRIES[part].names())}")
    part_name = kwargs.pop("name")
    registry = PART_REGISTRIES[part]
    if part_name not in registry:
        raise ValueError(
            f"method {name!r}: {where}{part}.name = {part_name!r} is not a known {part}; known: {', '.join(registry.names())}"
        )
    extra: tuple[str, ...] = ()
    if part == "loss":
        extra = LossOptions.names()
        try:
            LossOptions.split(kwargs)
        except ValueError as exc:
            raise ValueError(f"method {name!r}: {where}loss {part_name!r}: {exc}") from None
    problem = argument_problem(registry.get(part_name), kwargs, supplied=("class_counts",), extra=extra)
    if problem:
        raise ValueError(f"method {name!r}: {where}{part} {part_name!r}: {problem}")


def check_optimizer(name: str, optimizer: Any) -> dict[str, float]:
    """A method's stage-1 optimiser changes: known keys, non-negative numbers."""
    if optimizer is None:
        return {}
    if not isinstance(optimizer, dict):
        raise ValueError(f"method {name!r}: optimizer must be a mapping of {', '.join(OPTIMIZER_KEYS)}, got {optimizer!r}")
    unknown = sorted(set(optimizer) - set(OPTIMIZER_KEYS))
    if unknown:
        raise ValueError(f"method {name!r}: optimizer has unknown key(s) {unknown!r}; known: {', '.join(OPTIMIZER_KEYS)}")
    for key, value in optimizer.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or (key == "lr" and value == 0):
            raise ValueError(f"method {name!r}: optimizer.{key} must be a number {'> 0' if key == 'lr' else '>= 0'}, got {value!r}")
    return dict(optimizer)


def validate_method(name: str, spec: dict[str, Any]) -> None:
    """Fail early, naming the method, the part and the bad name, argument or value: the
    spec's names are checked, then the parts check their own values in a trial build on
    stand-in class counts, so a bad value stops the grid before any job."""
    _check_spec(name, spec)
    _build(name, spec or {}, placeholder_counts(spec or {}))


def _check_spec(name: str, spec: dict[str, Any]) -> None:
    """Every key, part name and argument name exists, and schedule / stage 2 are well formed
    (part values are checked by the parts when built)."""
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ValueError(f"method {name!r}: spec must be a mapping of parts, got {spec!r}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"method {name!r}: unknown key(s) {', '.join(map(repr, unknown))}; known: {', '.join(SPEC_KEYS)}")
    for part in PART_REGISTRIES:
        _check_part(name, spec, part)
    schedule = spec.get("schedule") or {}
    known = {f.name for f in fields(Schedule)}
    if not isinstance(schedule, dict) or set(schedule) - known:
        bad = sorted(set(schedule) - known) if isinstance(schedule, dict) else schedule
        raise ValueError(f"method {name!r}: schedule has unknown key(s) {bad!r}; known: {', '.join(sorted(known))}")
    check_optimizer(name, spec.get("optimizer"))
    try:
        Schedule(**schedule)
        stage2 = Stage2Spec.from_dict(spec["stage2"]) if spec.get("stage2") is not None else None
    except ValueError as exc:
        raise ValueError(f"method {name!r}: {exc}") from None
    if stage2 is not None:
        _check_part(name, {"loss": stage2.loss}, "loss", where="stage2.")


def placeholder_counts(spec: dict[str, Any], num_classes: int = 10) -> Tensor:
    """Long-tailed stand-in counts (100 down to 10) for a trial build before the data exists.
    A Bayias test prior sets the class count, so its length is checked against the real
    classes at train time, not against this stand-in."""
    prior = (spec.get("loss") or {}).get("test_prior")
    if isinstance(prior, (list, tuple)) and len(prior) >= 2:
        num_classes = len(prior)
    i = torch.arange(num_classes, dtype=torch.float64)
    return torch.floor(100 * 10 ** (-i / (num_classes - 1)))


def _build(name: str, spec: dict[str, Any], counts: Tensor) -> Method:
    try:
        loss_kwargs = part_spec(spec, "loss")
        loss = build_loss(loss_kwargs.pop("name"), counts, **loss_kwargs)
        parts: dict[str, Any] = {}
        for part in ("mixing", "sampler"):
            kwargs = part_spec(spec, part)
            parts[part] = PART_REGISTRIES[part].build(kwargs.pop("name"), class_counts=counts, **kwargs)
        stage2 = Stage2Spec.from_dict(spec["stage2"]) if spec.get("stage2") is not None else None
        stage2_loss = None
        if stage2 is not None:
            stage2_kwargs = dict(stage2.loss)
            stage2_loss = build_loss(stage2_kwargs.pop("name"), counts, **stage2_kwargs)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"method {name!r}: {exc}") from None
    schedule = Schedule(**(spec.get("schedule") or {}))
    return Method(
        name=name, loss=loss, schedule=schedule, stage2=stage2, stage2_loss=stage2_loss,
        optimizer=check_optimizer(name, spec.get("optimizer")), **parts,
    )


def build_method(name: str, spec: dict[str, Any], class_counts: Tensor) -> Method:
    """Check the spec's names, then build every part from its params entry and the training
    class counts (the parts check their values against the real counts here)."""
    spec = spec or {}
    _check_spec(name, spec)
    return _build(name, spec, torch.as_tensor(class_counts, dtype=torch.float64))
