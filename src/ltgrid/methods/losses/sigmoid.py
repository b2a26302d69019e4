"""Cui et al.'s sigmoid focal loss (CVPR 2019, the class-balanced loss's focal form).

Every class is a one-vs-rest sigmoid: with p_k = sigma(z_k) and p_t = p_k for the target, 1 - p_k
for the others, a sample's loss is sum_k (1 - p_t,k)^gamma BCE(z_k, onehot_k) (gamma = 0: the
sigmoid cross-entropy). The batch loss divides by the number of samples (the `mean` reduction),
as their code divides by the number of positive labels. Their classifier bias starts at
-log(C - 1), so sigma(b) = 1/C (a prior for each one-vs-rest output), and is left out of weight
decay; the model building does both (methods/head.py).

Predictions use the raw z (argmax). For probabilities (calibration, NLL) the trained sigmoids
are renormalised, p_k = sigma(z_k) / sum_j sigma(z_j): `eval_logits` returns log sigma(z), whose
softmax is exactly that.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from ltgrid.methods.base import Loss


def sigmoid_focal_terms(logits: Tensor, onehot: Tensor, gamma: float) -> Tensor:
    """(1 - p_t)^gamma BCE per (sample, class). The modulator is exp(-gamma (y z + softplus(-z))),
    (1 - sigma(z))^gamma for y = 1 and sigma(z)^gamma for y = 0, finite for any z (Cui et al.'s
    stable form, with softplus for log1p(exp(.)))."""
    bce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
    if gamma == 0:
        return bce
    return (-gamma * (onehot * logits + F.softplus(-logits))).exp() * bce


class SigmoidFocal(Loss):
    """sum_k (1 - p_t,k)^gamma BCE(z_k, [y = k]) per sample; bias prior -log(C - 1), not decayed."""

    decays_classifier_bias = False

    def __init__(self, class_counts: Tensor, gamma: float) -> None:
        super().__init__(class_counts)
        self.gamma = float(gamma)

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        onehot = F.one_hot(target, self.num_classes).to(logits.dtype)
        return sigmoid_focal_terms(logits, onehot, self.gamma).sum(dim=1)

    def classifier_bias_init(self) -> float:
        """-log(C - 1): every sigmoid starts at the uniform prior 1/C (0 for two classes)."""
        return -math.log(self.num_classes - 1)

    def eval_logits(self, logits: Tensor) -> Tensor:
        """log sigma(z): argmax unchanged, and its softmax is the renormalised sigmoids."""
        return super().eval_logits(F.logsigmoid(logits))
