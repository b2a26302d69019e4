"""mixup (Zhang et al. 2018) with one factor per sample."""

from __future__ import annotations

import torch
from torch import Tensor

from ltgrid.methods.base import Draws, Mixing
from ltgrid.methods.mixing.draws import beta_draws, permutation_partners
from ltgrid.methods.mixing.registry import MIXINGS


@MIXINGS.register("mixup")
class Mixup(Mixing):
    """x~ = lam x_i + (1 - lam) x_j, label weight lam for y_i; lam_i ~ Beta(alpha, alpha), j a shuffle."""

    def __init__(self, class_counts: Tensor, alpha: float) -> None:
        super().__init__(class_counts)
        self.alpha = float(alpha)

    def draw(self, y: Tensor, generator: torch.Generator) -> Draws:
        n = len(y)
        lam = beta_draws(n, self.alpha, generator)
        return {"partner": permutation_partners(n, generator), "factor": lam, "weight": lam}
