"""The loss registry, apart from the losses so their modules can register without import cycles."""

from __future__ import annotations

from ltgrid.methods.base import Loss
from ltgrid.methods.catalog import PartRegistry

LOSSES: PartRegistry[Loss] = PartRegistry("loss")
