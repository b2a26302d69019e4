"""The sampler registry, apart from the samplers so their modules can register without import cycles."""

from __future__ import annotations

from ltgrid.methods.base import Sampler
from ltgrid.methods.catalog import PartRegistry

SAMPLERS: PartRegistry[Sampler] = PartRegistry("sampler")
