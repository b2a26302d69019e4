"""Class weights and the options every loss accepts on top of its own arguments.

Re-weighting, its deferral (DRW) and post-hoc logit adjustment are orthogonal to the
loss equation, so they are options of any loss rather than separate loss names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

WEIGHTINGS = ("none", "class_balanced")
# mean: sum_i w_i l_i / N (Cui et al.'s class-balanced losses); weighted_mean: sum_i w_i l_i / sum_i w_i
# (PyTorch's cross_entropy(weight=w), what the LDAM-DRW code reduces with).
REDUCTIONS = ("mean", "weighted_mean")


def effective_number_weights(class_counts: Tensor, beta: float) -> Tensor:
    """Cui et al. 2019: w_c = (1 - beta) / (1 - beta^n_c), normalised to sum to C.

    beta = 0 gives uniform weights; beta = 1 is the limit 1 / n_c (inverse frequency).
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if bool((counts <= 0).any()):
        raise ValueError(f"class counts must be positive, got {counts.tolist()}")
    if beta == 1.0:
        raw = 1.0 / counts
    else:
        raw = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts))
    return raw / raw.sum() * len(counts)


@dataclass(frozen=True)
class LossOptions:
    """Options shared by every loss.

    weighting: "none" or "class_balanced" (effective number, `beta`).
    drw_epoch: 0-based epoch from which the weights apply (deferred re-weighting); 0 = always.
    posthoc_tau: test-time logits z - posthoc_tau * log pi (Menon et al. 2021); 0 = raw z.
    reduction: how a batch's weighted per-sample losses are averaged (REDUCTIONS).
    """

    weighting: str = "none"
    beta: float = 0.9999
    drw_epoch: int = 0
    posthoc_tau: float = 0.0
    reduction: str = "mean"

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting {self.weighting!r} is not one of {', '.join(WEIGHTINGS)}")
        if not isinstance(self.beta, (int, float)) or not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be a number in [0, 1], got {self.beta!r}")
        if not isinstance(self.drw_epoch, int) or isinstance(self.drw_epoch, bool) or self.drw_epoch < 0:
            raise ValueError(f"drw_epoch must be an integer >= 0, got {self.drw_epoch!r}")
        if not isinstance(self.posthoc_tau, (int, float)) or isinstance(self.posthoc_tau, bool):
            raise ValueError(f"posthoc_tau must be a number, got {self.posthoc_tau!r}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction {self.reduction!r} is not one of {', '.join(REDUCTIONS)}")
        if self.drw_epoch > 0 and self.weighting == "none":
            raise ValueError(f"drw_epoch={self.drw_epoch} defers a weighting, but weighting is 'none'")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def split(cls, kwargs: dict[str, Any]) -> tuple["LossOptions", dict[str, Any]]:
        """Separate the shared options from a loss's own arguments."""
        shared = {k: v for k, v in kwargs.items() if k in cls.names()}
        own = {k: v for k, v in kwargs.items() if k not in cls.names()}
        return cls(**shared), own

    def class_weight(self, class_counts: Tensor) -> Tensor | None:
        if self.weighting == "class_balanced":
            return effective_number_weights(class_counts, self.beta)
        return None
