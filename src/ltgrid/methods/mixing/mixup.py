"""mixup (Zhang et al. 2018): one factor per batch, as the authors' code, or one per sample."""

from __future__ import annotations

import torch
from torch import Tensor

from ltgrid.methods.base import Draws, Mixing
from ltgrid.methods.mixing.draws import beta_draws, permutation_partners


def mixup_factors(n: int, alpha: float, per: str, generator: torch.Generator) -> Tensor:
    """The n factors of one batch: `batch` repeats a single Beta(alpha, alpha) draw (Zhang et al.'s
    and MiSLAS's mixup_data), `sample` draws each on its own. Same marginal; within a batch the
    spread is 0 for `batch`."""
    if per == "batch":
        return beta_draws(1, alpha, generator).expand(n).clone()
    if per == "sample":
        return beta_draws(n, alpha, generator)
    raise ValueError(f"mixup per {per!r} is not one of batch, sample")


class Mixup(Mixing):
    """x~ = lam x_i + (1 - lam) x_j, label weight lam for y_i; lam ~ Beta(alpha, alpha) once per
    batch (`per: batch`) or per sample (`per: sample`), j a shuffle of the batch."""

    def __init__(self, class_counts: Tensor, alpha: float, per: str) -> None:
        super().__init__(class_counts)
        self.alpha, self.per = float(alpha), per

    def draw(self, y: Tensor, generator: torch.Generator) -> Draws:
        n = len(y)
        lam = mixup_factors(n, self.alpha, self.per, generator)
        return {"partner": permutation_partners(n, generator), "factor": lam, "weight": lam}
