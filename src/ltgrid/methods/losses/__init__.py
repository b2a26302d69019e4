"""Losses on logits, one class each, built by name from methods/catalog.py's table (see base.Loss).

`build_loss` is the one constructor path: it builds the named loss from its own
arguments and applies the shared `LossOptions` (class weights, DRW, post-hoc tau).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ltgrid.methods.base import Loss
from ltgrid.methods.catalog import PartRegistry
from ltgrid.methods.losses.balpoe import BalancedPoE
from ltgrid.methods.losses.ce import CrossEntropy, Focal
from ltgrid.methods.losses.glmc import GlmcLoss
from ltgrid.methods.losses.ldam import LDAM, ldam_margins
from ltgrid.methods.losses.prior import BalancedSoftmax, Bayias, LogitAdjusted, PriorShiftedCE
from ltgrid.methods.losses.sigmoid import SigmoidFocal, sigmoid_focal_terms
from ltgrid.methods.losses.smoothing import LabelAwareSmoothing, label_aware_epsilons
from ltgrid.methods.losses.weighting import LossOptions, effective_number_weights

# the built-ins of methods/catalog.py's table, each imported on first use; a plugin's join with `register`
LOSSES: PartRegistry[Loss] = PartRegistry("loss")


def build_loss(name: str, class_counts: Tensor, **kwargs: Any) -> Loss:
    """The named loss with its own arguments, then the shared options applied."""
    options, own = LossOptions.split(kwargs)
    loss = LOSSES.build(name, class_counts=class_counts, **own)
    weight = options.class_weight(loss.class_counts)
    if weight is not None:
        loss.schedule_class_weight(weight, options.drw_epoch)
    loss.posthoc_tau = float(options.posthoc_tau)
    loss.reduction = options.reduction
    return loss


__all__ = [
    "LOSSES",
    "LDAM",
    "BalancedPoE",
    "BalancedSoftmax",
    "Bayias",
    "CrossEntropy",
    "Focal",
    "GlmcLoss",
    "LabelAwareSmoothing",
    "LogitAdjusted",
    "LossOptions",
    "PriorShiftedCE",
    "SigmoidFocal",
    "build_loss",
    "effective_number_weights",
    "label_aware_epsilons",
    "ldam_margins",
    "sigmoid_focal_terms",
]
