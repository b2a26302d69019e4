"""The mixing registry, apart from the rules so their modules can register without import cycles."""

from __future__ import annotations

from ltgrid.methods.base import Mixing
from ltgrid.methods.catalog import PartRegistry

MIXINGS: PartRegistry[Mixing] = PartRegistry("mixing")
MIXINGS.register("none")(Mixing)
