"""Epoch samplers, built by name from methods/catalog.py's table (see base.Sampler)."""

from __future__ import annotations

from ltgrid.methods.base import Sampler
from ltgrid.methods.catalog import PartRegistry
from ltgrid.methods.samplers.class_aware import (
    ClassAwareSampler,
    ClassBalanced,
    ProgressivelyBalanced,
    SquareRoot,
    power_class_probs,
    progressive_class_probs,
)
from ltgrid.methods.samplers.class_cycle import ClassCycle
from ltgrid.methods.samplers.instance import InstanceBalanced

# the built-ins of methods/catalog.py's table, each imported on first use; a plugin's join with `register`
SAMPLERS: PartRegistry[Sampler] = PartRegistry("sampler")

__all__ = [
    "SAMPLERS",
    "ClassAwareSampler",
    "ClassBalanced",
    "ClassCycle",
    "InstanceBalanced",
    "ProgressivelyBalanced",
    "SquareRoot",
    "power_class_probs",
    "progressive_class_probs",
]
