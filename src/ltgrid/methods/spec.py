"""A method's spec in params, checked and completed without torch (methods/catalog.py declares
every argument): the params check validates every method of a grid through it
(methods/validation.py), a resolved cell carries its `filled_spec`, and `assemble_method` builds
the parts from it.

Params spell a method as, for example::

    unimix_bayias:
      loss: {name: bayias}
      mixing: {name: unimix, alpha: 0.8, tau: -0.5}
      sampler: {name: instance}
      schedule: {mix_off_last: 0}
"""

from __future__ import annotations

from typing import Any

from ltgrid.errors import ArgumentsError, PartError
from ltgrid.methods.catalog import METHOD_OPTIMIZER, PARTS, SCHEDULE, STAGE2, fill, resolve, split_loss_options

PART_FAMILIES = ("loss", "mixing", "sampler")
DEFAULT_PARTS: dict[str, dict[str, Any]] = {"loss": {"name": "ce"}, "mixing": {"name": "none"}, "sampler": {"name": "instance"}}
# description: prose, ignored; model / recipe: what the cell trains and with which recipe changes (ltgrid.params)
SPEC_KEYS = (*PART_FAMILIES, "schedule", "optimizer", "stage2", "description", "model", "recipe")


def _part(method: str, spec: dict[str, Any], part: str, where: str = "") -> dict[str, Any]:
    """One part entry, checked and filled; `where` prefixes it in messages ("stage2." for its loss)."""
    raw = spec.get(part)
    if raw is not None and not isinstance(raw, dict):
        raise PartError(f"method {method!r}: {where}{part} must be a mapping with a 'name', got {raw!r}")
    kwargs = dict(raw or DEFAULT_PARTS[part])
    known = ", ".join(sorted(PARTS[part]))
    if "name" not in kwargs:
        raise PartError(f"method {method!r}: {where}{part} has no 'name'; known: {known}")
    name = kwargs.pop("name")
    if name not in PARTS[part]:
        raise PartError(f"method {method!r}: {where}{part}.name = {name!r} is not a known {part}; known: {known}")
    options: dict[str, Any] = {}
    try:
        if part == "loss":
            options, kwargs = split_loss_options(kwargs)
        own = resolve(part, name, kwargs)
    except ArgumentsError as exc:
        raise PartError(f"method {method!r}: {where}{exc}") from None
    except PartError as exc:  # a loss names itself: its options' messages do not
        prefix = f"{where}loss {name!r}: " if part == "loss" else where
        raise PartError(f"method {method!r}: {prefix}{exc}") from None
    return {"name": name, **own, **options}


def _checked(method: str, check: Any) -> dict[str, Any]:
    try:
        return check()
    except (PartError, ArgumentsError) as exc:
        raise PartError(f"method {method!r}: {exc}") from None


def method_parts(name: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    """Every part of the method with its defaults filled in, checked: loss, mixing, sampler
    ({name, args...}), schedule ({mix_off_last}) and stage2 (None for a one-stage method).
    Raises PartError naming the method, the part and the bad name, argument or value."""
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise PartError(f"method {name!r}: spec must be a mapping of parts, got {spec!r}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise PartError(f"method {name!r}: unknown key(s) {', '.join(map(repr, unknown))}; known: {', '.join(SPEC_KEYS)}")
    parts = {part: _part(name, spec, part) for part in PART_FAMILIES}
    schedule = spec.get("schedule") or {}
    if not isinstance(schedule, dict):
        raise PartError(f"method {name!r}: schedule must be a mapping, got {schedule!r}")
    parts["schedule"] = _checked(name, lambda: fill(SCHEDULE, schedule, "schedule"))
    parts["optimizer"] = _optimizer(name, spec.get("optimizer"))
    parts["stage2"] = _stage2(name, spec.get("stage2"))
    return parts


def filled_spec(name: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    """The params entry with every part filled and checked (`method_parts`) beside its other keys
    (model, recipe, description): what a resolved cell carries, so the train job fills nothing.
    Filling is idempotent: a filled spec fills to itself."""
    return {**(spec or {}), **method_parts(name, spec)}


def _optimizer(method: str, optimizer: Any) -> dict[str, float]:
    """A method's stage-1 changes to its recipe's optimiser: only the keys it sets."""
    if optimizer is None:
        return {}
    known = ", ".join(METHOD_OPTIMIZER.args)
    if not isinstance(optimizer, dict):
        raise PartError(f"method {method!r}: optimizer must be a mapping of {known}, got {optimizer!r}")
    unknown = sorted(set(optimizer) - set(METHOD_OPTIMIZER.args))
    if unknown:
        raise PartError(f"method {method!r}: optimizer has unknown key(s) {unknown!r}; known: {known}")
    _checked(method, lambda: fill(METHOD_OPTIMIZER, optimizer, "optimizer"))
    return dict(optimizer)


def _stage2(method: str, stage2: Any) -> dict[str, Any] | None:
    """Stage 2 filled and checked, its loss (plain CE unless set) in full like a method's loss."""
    if stage2 is None:
        return None
    if not isinstance(stage2, dict):
        raise PartError(f"method {method!r}: stage2 must be a mapping, got {stage2!r}")
    filled = _checked(method, lambda: fill(STAGE2, stage2, "stage2"))
    filled["loss"] = _part(method, {"loss": filled["loss"]}, "loss", where="stage2.")
    return filled
