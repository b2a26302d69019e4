"""Cross-entropy and focal loss on softmax probabilities."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ltgrid.methods.base import Loss


class CrossEntropy(Loss):
    """Plain softmax cross-entropy: -log softmax(z)_y."""

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits, target, reduction="none")


class Focal(Loss):
    """Focal loss (Lin et al. 2017), softmax form: -(1 - p_y)^gamma log p_y; gamma = 0 is CE.

    The class weight w_y (a loss option) multiplies the whole loss. With `weight_in_modulator`
    it also enters the modulator, -(1 - p_y^{w_y})^gamma log p_y (times w_y): what the LDAM-DRW
    code's FocalLoss(weight=w) computes, since it feeds exp(-w_y CE) = p_y^{w_y} to the modulator.
    Unit weights make the two forms equal.
    """

    def __init__(self, class_counts: Tensor, gamma: float, weight_in_modulator: bool) -> None:
        super().__init__(class_counts)
        self.gamma = float(gamma)
        self.weight_in_modulator = bool(weight_in_modulator)

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        log_p = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
        if self.gamma == 0:
            return -log_p
        if self.weight_in_modulator:
            log_p_mod = self.class_weight.to(log_p.dtype)[target] * log_p  # log p_y^{w_y}
        else:
            log_p_mod = log_p
        return -((1 - log_p_mod.exp()).clamp_min(0) ** self.gamma) * log_p
