"""mixup (Zhang et al. 2018) with one factor per sample."""

from __future__ import annotations

import torch
from torch import Tensor

from ltgrid.methods.base import MixedBatch, Mixing
from ltgrid.methods.mixing.draws import beta_draws, blend, permutation_partners
from ltgrid.methods.mixing.registry import MIXINGS


@MIXINGS.register("mixup")
class Mixup(Mixing):
    """x~ = lam x_i + (1 - lam) x_j, label weight lam for y_i; lam_i ~ Beta(alpha, alpha), j a shuffle."""

    def __init__(self, class_counts: Tensor, alpha: float) -> None:
        super().__init__(class_counts)
        self.alpha = float(alpha)

    def __call__(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixedBatch:
        n = len(y)
        lam = beta_draws(n, self.alpha, generator)
        partner = permutation_partners(n, generator).to(y.device)
        return MixedBatch(blend(x, partner, lam), y, y[partner], lam.to(x.device, x.dtype))
