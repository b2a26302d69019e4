"""UniMix (Xu et al. 2021): tail-favoured mixing factor and tail-favoured partners.

For each image i of a minibatch, a partner j is drawn from the same minibatch with
replacement, P(j) proportional to n_{y_j}^tau. The factor of x_i is
xi* = f(xi_ij, b), xi_ij = n_{y_j} / (n_{y_i} + n_{y_j}), b ~ Beta(alpha, alpha), with

  wrap (default, the authors' code): xi* = (xi_ij + b) mod 1
  clip (ablation):                   xi* = min(max(xi_ij + b - 1/2, 0), 1)

`clip` centres the same Beta noise on xi_ij (E[b - 1/2] = 0) and clamps into [0, 1]
instead of wrapping. x~ = xi* x_i + (1 - xi*) x_j and y_i gets label weight xi*.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ltgrid.methods.base import Draws, Mixing
from ltgrid.methods.mixing.draws import beta_draws

FACTOR_MODES = ("wrap", "clip")


def unimix_partner_probs(counts_of_batch: Tensor, tau: float) -> Tensor:
    """P(partner = j) proportional to n_{y_j}^tau over the batch positions j."""
    weights = counts_of_batch.to(torch.float64) ** tau
    return weights / weights.sum()


def unimix_xi(count_i: Tensor, count_j: Tensor) -> Tensor:
    """xi_ij = n_{y_j} / (n_{y_i} + n_{y_j}): the rarer image gets the larger weight."""
    return count_j / (count_i + count_j)


def unimix_factor(xi: Tensor, b: Tensor, mode: str = "wrap") -> Tensor:
    """xi* from xi_ij and the Beta draw b (see the module docstring)."""
    if mode == "wrap":
        return torch.remainder(xi + b, 1.0)
    if mode == "clip":
        return (xi + b - 0.5).clamp(0.0, 1.0)
    raise ValueError(f"unimix factor mode {mode!r} is not one of {', '.join(FACTOR_MODES)}")


class UniMix(Mixing):
    """UniMix with alpha (Beta), tau (partner prior exponent) and the factor `mode`."""

    def __init__(self, class_counts: Tensor, alpha: float, tau: float, mode: str) -> None:
        super().__init__(class_counts)
        self.alpha, self.tau, self.mode = float(alpha), float(tau), mode

    def draw(self, y: Tensor, generator: torch.Generator) -> Draws:
        n = len(y)
        counts = self.class_counts[y]
        partner = torch.multinomial(unimix_partner_probs(counts, self.tau), n, replacement=True, generator=generator)
        b = beta_draws(n, self.alpha, generator)
        factor = unimix_factor(unimix_xi(counts, counts[partner]), b, self.mode)
        return {"partner": partner, "factor": factor, "weight": factor}
