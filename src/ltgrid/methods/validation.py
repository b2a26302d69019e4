"""Checking a method's spec before any job: its parts (torch-free, methods/spec.py), and for a
plugin's part, declared only by its signature, a trial build of the method (its module imported
torch already; the built-ins never need it)."""

from __future__ import annotations

from typing import Any

from ltgrid.errors import PartError
from ltgrid.methods.catalog import PARTS, pairing_problem
from ltgrid.methods.spec import PART_FAMILIES, method_parts


def validate_method(name: str, spec: dict[str, Any] | None) -> None:
    """Fail early, naming the method, the part and the bad name, argument or value. A plugin's
    part (declared by its signature only) checks its values in a trial build on stand-in counts;
    its module imported torch already, the built-ins never need it."""
    parts = method_parts(name, spec)
    problem = pairing_problem(parts)  # a loss that scores one mixing rule's batches only (GLMC's)
    if problem:
        raise PartError(f"method {name!r}: {problem}")
    entries = [parts[p] for p in PART_FAMILIES] + ([parts["stage2"]["loss"]] if parts["stage2"] else [])
    families = list(PART_FAMILIES) + (["loss"] if parts["stage2"] else [])
    if any(not PARTS[f][e["name"]].checked for f, e in zip(families, entries)):
        from ltgrid.methods.compose import trial_build

        trial_build(name, spec)
