"""Prior-shifted cross-entropies: CE(z + shift, y) with a fixed per-class shift.

Logit-adjusted loss (Menon et al. 2021), Balanced Softmax (Ren et al. 2020) and Bayias
(Xu et al. 2021) differ only in the shift; with a uniform test prior and tau = 1 all
three are CE(z + log pi, y) up to a constant that cancels in the softmax.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ltgrid.errors import PartError
from ltgrid.methods.base import Loss


class PriorShiftedCE(Loss):
    """CE(z + shift, y); subclasses set the `shift` buffer. Test-time logits stay raw z."""

    def set_shift(self, shift: Tensor) -> None:
        """`shift` formed in float64 and rounded to float32 once here: a difference of two rounded
        logs (log pi - log p_test) would carry both rounding errors into every sample's loss."""
        if shift.dtype != torch.float64:
            raise TypeError(f"a prior shift must be formed in float64, got {shift.dtype}")
        self.register_buffer("shift", shift.to(torch.float32))

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits + self.shift.to(logits.dtype), target, reduction="none")


class LogitAdjusted(PriorShiftedCE):
    """Logit-adjusted loss: CE(z + tau * log pi, y); tau = 0 is CE."""

    def __init__(self, class_counts: Tensor, tau: float) -> None:
        super().__init__(class_counts)
        self.set_shift(float(tau) * self.log_prior64)


class BalancedSoftmax(PriorShiftedCE):
    """Balanced Softmax: softmax with each exp(z_c) weighted by n_c, i.e. CE(z + log pi, y)."""

    def __init__(self, class_counts: Tensor) -> None:
        super().__init__(class_counts)
        self.set_shift(self.log_prior64)


class Bayias(PriorShiftedCE):
    """Bayias: CE(z + log pi - log p_test, y) at train time; raw z at test time.

    `test_prior` (optional) is a list of positive class weights (normalised here);
    uniform when absent, where it reduces to Balanced Softmax.
    """

    def __init__(self, class_counts: Tensor, test_prior: list[float] | None = None) -> None:
        super().__init__(class_counts)
        n = self.num_classes
        if test_prior is None:
            log_test = torch.full((n,), -math.log(n), dtype=torch.float64)
        else:
            p = torch.as_tensor(test_prior, dtype=torch.float64)
            if p.shape != (n,):  # the catalog checked the values are positive numbers
                raise PartError(f"bayias test_prior must be {n} positive numbers, got {test_prior}")
            log_test = torch.log(p / p.sum())
        self.register_buffer("log_test_prior", log_test.float())
        self.set_shift(self.log_prior64 - log_test)
