"""LDAM (Cao et al. 2019): a class-dependent margin on the target logit of a cosine classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ltgrid.methods.base import Loss


def ldam_margins(class_counts: Tensor, max_margin: float) -> Tensor:
    """m_c = max_margin * n_c^(-1/4) / max_k n_k^(-1/4): the rarest class gets max_margin."""
    quartic = torch.as_tensor(class_counts, dtype=torch.float64) ** -0.25
    return max_margin * quartic / quartic.max()


class LDAM(Loss):
    """CE(s * (z - m_y e_y), y) with z cosine logits; needs the normed classifier."""

    needs_normed_classifier = True

    def __init__(self, class_counts: Tensor, max_margin: float, s: float) -> None:
        super().__init__(class_counts)
        self.s = float(s)
        self.register_buffer("margins", ldam_margins(self.class_counts, float(max_margin)).float())

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        margin = F.one_hot(target, self.num_classes).to(logits.dtype) * self.margins.to(logits.dtype)[target, None]
        return F.cross_entropy(self.s * (logits - margin), target, reduction="none")

    def eval_logits(self, logits: Tensor) -> Tensor:
        """s * z: the softmax the loss trained is over scaled cosines, so probabilities (ECE,
        NLL) must be too; raw cosines in [-1, 1] would read as a near-uniform, underconfident model."""
        return super().eval_logits(self.s * logits)
