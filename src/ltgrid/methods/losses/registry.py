"""The loss registry: the built-in losses of methods/catalog.py's table, imported on first use,
and any a plugin registers with `register`."""

from __future__ import annotations

from ltgrid.methods.base import Loss
from ltgrid.methods.catalog import PartRegistry

LOSSES: PartRegistry[Loss] = PartRegistry("loss")
