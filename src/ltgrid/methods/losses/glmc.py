"""GLMC's loss: cumulative uniform / re-balanced mixed CE plus the global-local mixture consistency.

The authors' training step (ynu-yangpeng/GLMC, GLMC-2023/Trainer.py `train`, `SimSiamLoss`), on
the glmc mixing rule's batch [x_mix; x_cut] (methods/mixing/glmc.py) and a GLMC model's outputs
(models/resnet_glmc.py: logits z of fc, z_cb of fc_cb, projection h, prediction u):

  L_bal   = mean_mix[CE_lam(z)] + mean_cut[CE_lam(z)],    CE_lam(z) = lam CE(z, y_a) + (1 - lam) CE(z, y_b)
  L_rebal = mean_mix[wCE_lam(z_cb)] + mean_cut[wCE_lam(z_cb)],
            wCE_lam(z) = lam w_{y_a} CE(z, y_a) + (1 - lam) w_{y_b} CE(z, y_b),
            w_c = n_c^-label_weighting, scaled to sum to C (their `update_weight`)
  L_con   = -cos(u_mix, sg(h_cut)) - cos(u_cut, sg(h_mix))   (batch means; sg: stop-gradient)
  L       = a L_bal + (1 - a) L_rebal + contrast_weight L_con,   a = 1 - (epoch / epochs)^2 (0-based epoch)

Both sums over the two mixtures are of means (not one mean over 2B rows), as theirs. Their soft
labels lam e_{y_a} + (1 - lam) e_{y_b} (times w) make the CE linear in lam, which is CE_lam above.
Predictions use fc_cb (their `forward(train=False)`), which `joint_logits` picks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ltgrid.methods.base import Loss, MixedBatch
from ltgrid.models.resnet_glmc import split_outputs


def power_weights(class_counts: Tensor, power: float) -> Tensor:
    """w_c = n_c^-power, scaled to sum to C (power 0: ones)."""
    raw = class_counts.to(torch.float64) ** (-power)
    return raw / raw.sum() * len(class_counts)


def cumulative_weight(epoch: int, num_epochs: int) -> float:
    """a = 1 - (epoch / epochs)^2: the uniform branch's weight, 1 at the start, falling to ~0."""
    return 1.0 - (epoch / num_epochs) ** 2


def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """SimSiam's D(p, z) = -cos(p, sg(z)), batch mean."""
    return -F.cosine_similarity(p, z.detach(), dim=-1).mean()


class GlmcLoss(Loss):
    """The GLMC training loss (see the module docstring); `per_sample` is plain CE on fc_cb."""

    def __init__(self, class_counts: Tensor, label_weighting: float, contrast_weight: float) -> None:
        super().__init__(class_counts)
        self.contrast_weight = float(contrast_weight)
        self.register_buffer("rebalance_weight", power_weights(self.class_counts, float(label_weighting)).float())
        self.alpha = 1.0  # the uniform branch's weight this epoch (set_epoch)

    def set_epoch(self, epoch: int, num_epochs: int) -> None:
        super().set_epoch(epoch, num_epochs)
        self.alpha = cumulative_weight(epoch, num_epochs)

    def joint_logits(self, outputs: Tensor) -> Tensor:
        return split_outputs(outputs, self.num_classes)[1]

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits, target, reduction="none")

    def mixed_ce(self, logits: Tensor, batch: MixedBatch, weight: Tensor | None) -> Tensor:
        """Per row lam w_{y_a} CE(z, y_a) + (1 - lam) w_{y_b} CE(z, y_b) (w = 1 when None)."""
        lam = batch.lam.to(logits.dtype)
        ce_a = F.cross_entropy(logits, batch.y_a, reduction="none")
        ce_b = F.cross_entropy(logits, batch.y_b, reduction="none")
        if weight is not None:
            w = weight.to(logits.dtype)
            ce_a, ce_b = w[batch.y_a] * ce_a, w[batch.y_b] * ce_b
        return lam * ce_a + (1 - lam) * ce_b

    def batch_value(self, outputs: Tensor, batch: MixedBatch) -> Tensor:
        logits, logits_cb, h, u = split_outputs(outputs, self.num_classes)
        b = len(batch.y_a) // 2  # rows [0, b): the global mixture; [b, 2b): the local one

        def two_means(per_row: Tensor) -> Tensor:
            return per_row[:b].mean() + per_row[b:].mean()

        balance = two_means(self.mixed_ce(logits, batch, None))
        rebalance = two_means(self.mixed_ce(logits_cb, batch, self.rebalance_weight))
        consistency = negative_cosine(u[:b], h[b:]) + negative_cosine(u[b:], h[:b])
        return self.alpha * balance + (1 - self.alpha) * rebalance + self.contrast_weight * consistency
