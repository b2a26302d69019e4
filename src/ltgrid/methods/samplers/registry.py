"""The sampler registry: the built-in samplers of methods/catalog.py's table, imported on first use,
and any a plugin registers with `register`."""

from __future__ import annotations

from ltgrid.methods.base import Sampler
from ltgrid.methods.catalog import PartRegistry

SAMPLERS: PartRegistry[Sampler] = PartRegistry("sampler")
