"""Class weights and the options every loss accepts on top of its own arguments.

Re-weighting, its deferral (DRW) and post-hoc logit adjustment are orthogonal to the
loss equation, so they are options of any loss rather than separate loss names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from ltgrid.methods.catalog import LOSS_OPTIONS, fill, split_loss_options

_DEFAULT = {name: arg.default for name, arg in LOSS_OPTIONS.args.items()}


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
    """Options shared by every loss (declared, defaulted and checked in methods/catalog.py).

    weighting: "none" or "class_balanced" (effective number, `beta`).
    drw_epoch: 0-based epoch from which the weights apply (deferred re-weighting); 0 = always.
    posthoc_tau: test-time logits z - posthoc_tau * log pi (Menon et al. 2021); 0 = raw z.
    reduction: how a batch's weighted per-sample losses are averaged (REDUCTIONS).
    """

    weighting: str = _DEFAULT["weighting"]
    beta: float = _DEFAULT["beta"]
    drw_epoch: int = _DEFAULT["drw_epoch"]
    posthoc_tau: float = _DEFAULT["posthoc_tau"]
    reduction: str = _DEFAULT["reduction"]

    def __post_init__(self) -> None:
        fill(LOSS_OPTIONS, asdict(self), "loss options")

    @classmethod
    def split(cls, kwargs: dict[str, Any]) -> tuple["LossOptions", dict[str, Any]]:
        """Separate the shared options (filled and checked) from a loss's own arguments."""
        options, own = split_loss_options(kwargs)
        return cls(**options), own

    def class_weight(self, class_counts: Tensor) -> Tensor | None:
        if self.weighting == "class_balanced":
            return effective_number_weights(class_counts, self.beta)
        return None
