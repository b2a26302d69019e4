"""The mixing registry: the built-in mixing rules of methods/catalog.py's table, imported on first use,
and any a plugin registers with `register`."""

from __future__ import annotations

from ltgrid.methods.base import Mixing
from ltgrid.methods.catalog import PartRegistry

MIXINGS: PartRegistry[Mixing] = PartRegistry("mixing")
