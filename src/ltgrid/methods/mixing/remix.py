"""Remix (Chou et al. 2020): mixup images, but labels pushed to the minority class."""

from __future__ import annotations

import torch
from torch import Tensor

from ltgrid.methods.base import Draws, Mixing
from ltgrid.methods.mixing.draws import beta_draws, permutation_partners


def remix_label_weight(lam: Tensor, count_i: Tensor, count_j: Tensor, kappa: float, tau: float) -> Tensor:
    """Weight of y_i: 0 if n_i/n_j >= kappa and lam < tau; 1 if n_i/n_j <= 1/kappa and 1 - lam < tau; else lam."""
    ratio = count_i / count_j
    weight = lam.clone()
    weight = torch.where((ratio >= kappa) & (lam < tau), torch.zeros_like(lam), weight)
    weight = torch.where((ratio <= 1.0 / kappa) & (1 - lam < tau), torch.ones_like(lam), weight)
    return weight


class Remix(Mixing):
    """Image factor lam ~ Beta(alpha, alpha); label weight from `remix_label_weight`."""

    def __init__(self, class_counts: Tensor, alpha: float, kappa: float, tau: float) -> None:
        super().__init__(class_counts)
        self.alpha, self.kappa, self.tau = float(alpha), float(kappa), float(tau)

    def draw(self, y: Tensor, generator: torch.Generator) -> Draws:
        n = len(y)
        lam = beta_draws(n, self.alpha, generator)
        partner = permutation_partners(n, generator)
        counts = self.class_counts
        weight = remix_label_weight(lam, counts[y], counts[y[partner]], self.kappa, self.tau)
        return {"partner": partner, "factor": lam, "weight": weight}
