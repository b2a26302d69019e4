"""Epoch samplers, built by name from methods/catalog.py's table (see base.Sampler)."""

from __future__ import annotations

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
from ltgrid.methods.samplers.registry import SAMPLERS

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
