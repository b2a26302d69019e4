"""Mixing rules, vectorised over the batch, built by name from methods/catalog.py's table (see base.Mixing)."""

from __future__ import annotations

from ltgrid.methods.base import Mixing
from ltgrid.methods.catalog import PartRegistry
from ltgrid.methods.mixing.draws import beta_draws
from ltgrid.methods.mixing.glmc import GlmcMixing
from ltgrid.methods.mixing.mixup import Mixup, mixup_factors
from ltgrid.methods.mixing.remix import Remix, remix_label_weight
from ltgrid.methods.mixing.unimix import UniMix, unimix_factor, unimix_partner_probs, unimix_xi

# the built-ins of methods/catalog.py's table, each imported on first use; a plugin's join with `register`
MIXINGS: PartRegistry[Mixing] = PartRegistry("mixing")

__all__ = [
    "GlmcMixing",
    "MIXINGS",
    "Mixup",
    "Remix",
    "UniMix",
    "beta_draws",
    "mixup_factors",
    "remix_label_weight",
    "unimix_factor",
    "unimix_partner_probs",
    "unimix_xi",
]
