"""Mixing rules, vectorised over the batch, registered by name (see base.Mixing)."""

from __future__ import annotations

from ltgrid.methods.base import Mixing
from ltgrid.registry import Registry

MIXINGS: Registry[Mixing] = Registry("mixing")
MIXINGS.register("none")(Mixing)
