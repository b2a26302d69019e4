"""Decoupled second stage: the spec the trainer runs and the maths of each kind.

Params spell it inside a method, e.g.::

    stage2: {kind: crt, base: ce, sampler: {name: class_balanced}, epochs: 10, lr: 0.1}
    stage2: {kind: tau_norm, base: ce, tau: 1.0, tau_range: [0.0, 2.0, 0.1]}
    stage2: {kind: lws, base: ce, sampler: {name: class_balanced}, epochs: 10, lr: 0.1}
    stage2: {kind: mislas, base: mixup, loss: {name: las, head: 0.3, tail: 0.0}, shift_bn: true,
             classifier_lr_factor: 0.5}
    stage2: {kind: finetune, base: ce_wd, loss: {name: ce, weighting: class_balanced},
             sampler: {name: instance}, lr: 0.01, weight_decay: 0.1, max_norm: 0.1}

base: the method whose trained cell (same dataset, ratio, split and seed) is stage 1; the
pipeline reads that cell's model.pt, so stage 1 is trained once and shared. Without a
base, the cell trains its own stage 1 with the method's parts first.

Every trained kind freezes the backbone and trains for `epochs` with `sampler`, `loss`
(any registered loss; plain CE by default) and a cosine learning rate from `lr`:
- crt (Kang et al. 2020): re-initialise the classifier and train it alone;
- lws (Kang et al. 2020): keep W and b, learn one scale per class, z'_c = f_c * z_c (f = 1 at start);
- mislas (Zhong et al. 2021): fine-tune the stage-1 classifier (lr * classifier_lr_factor) and
  learn LWS scales (lr), the authors' stage 2;
- finetune (Alshammari et al. 2022, weight balancing): fine-tune the stage-1 classifier.
`shift_bn`: the backbone's batch norms run in training mode (no gradient), so their running
statistics are re-estimated on the stage-2 sampler's batches while their affine parameters stay
frozen. `max_norm`: after every epoch each class row of W is projected onto the ball of radius
min_c ||w_c|| + max_norm * (max_c ||w_c|| - min_c ||w_c||), the norms of the stage-1 rows
(the authors' per-layer threshold; the bias is not constrained). `weight_decay` replaces the
recipe's for this stage. tau_norm: no training; the classifier weights become `tau_normalize(W, tau)` and the bias is dropped (set to 0). When the
split has a validation set, tau is chosen on it, as Kang et al. did: every value of `tau_range`
([start, stop, step], stop included) is tried and the one with the best validation accuracy kept
(the smallest on a tie); without one, the fixed `tau`. `tau_range: null` always takes `tau`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from ltgrid.errors import PartError
from ltgrid.methods.catalog import STAGE2, TRAINED_KINDS, fill

_DEFAULT = {name: arg.default for name, arg in STAGE2.args.items()}


def tau_normalize(classifier_weight: Tensor, tau: float) -> Tensor:
    """w_c / ||w_c||^tau per class row c; tau = 0 leaves W, tau = 1 gives unit rows."""
    if classifier_weight.dim() != 2:
        raise ValueError(f"classifier weight must be 2-D (classes, features), got shape {tuple(classifier_weight.shape)}")
    if not isinstance(tau, (int, float)) or isinstance(tau, bool) or tau < 0:
        raise PartError(f"tau_norm tau must be a number >= 0, got {tau!r}")
    norms = classifier_weight.norm(dim=1, keepdim=True).clamp_min(torch.finfo(classifier_weight.dtype).tiny)
    return classifier_weight / norms.pow(tau)


def max_norm_radius(classifier_weight: Tensor, fraction: float) -> Tensor:
    """min_c ||w_c|| + fraction * (max_c ||w_c|| - min_c ||w_c||), a 0-d tensor (no host read)."""
    norms = classifier_weight.detach().norm(dim=1)
    return norms.min() + fraction * (norms.max() - norms.min())


def max_norm_project(classifier_weight: Tensor, radius: Tensor) -> Tensor:
    """Rows longer than `radius` scaled back onto it, shorter rows unchanged (the PGD step)."""
    norms = classifier_weight.norm(dim=1, keepdim=True).clamp_min(torch.finfo(classifier_weight.dtype).tiny)
    return classifier_weight * torch.clamp(radius / norms, max=1.0)


class ScaledClassifier(nn.Module):
    """LWS: z'_c = scales_c * z_c on top of a classifier; scales start at 1, so it changes nothing until trained."""

    def __init__(self, classifier: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.inner = classifier
        self.scales = nn.Parameter(torch.ones(num_classes))

    @property
    def weight(self) -> Tensor:
        return self.inner.weight

    def forward(self, features: Tensor) -> Tensor:
        return self.inner(features) * self.scales


def tau_grid(tau_range: Sequence[float]) -> list[float]:
    """[start, stop, step] -> start, start + step, ..., stop (included; rounded to 1e-9 so 0.1 steps stay exact)."""
    start, stop, step = (float(v) for v in tau_range)
    count = int(round((stop - start) / step)) + 1
    return [round(start + i * step, 9) for i in range(count)]


def select_tau(
    classifier_weight: Tensor, taus: Sequence[float], val_accuracy: Callable[[Tensor], float]
) -> tuple[float, list[float]]:
    """The tau whose normalised weights score the best validation accuracy (first of equals), and every score.

    `val_accuracy(W)` evaluates the model with classifier weights W on the validation set.
    """
    if not taus:
        raise ValueError("select_tau needs at least one tau")
    scores = [float(val_accuracy(tau_normalize(classifier_weight, tau))) for tau in taus]
    best = max(range(len(taus)), key=lambda i: (scores[i], -i))
    return float(taus[best]), scores


@dataclass(frozen=True)
class Stage2Spec:
    """A stage-2 entry with its defaults (declared and checked in methods/catalog.py)."""

    kind: str
    base: str | None = _DEFAULT["base"]
    sampler: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULT["sampler"]))
    loss: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULT["loss"]))
    epochs: int = _DEFAULT["epochs"]
    lr: float = _DEFAULT["lr"]
    tau: float = _DEFAULT["tau"]
    classifier_lr_factor: float = _DEFAULT["classifier_lr_factor"]
    weight_decay: float | None = _DEFAULT["weight_decay"]
    max_norm: float | None = _DEFAULT["max_norm"]
    shift_bn: bool = _DEFAULT["shift_bn"]
    tau_range: list[float] | None = field(default_factory=lambda: list(_DEFAULT["tau_range"]))

    def __post_init__(self) -> None:
        fill(STAGE2, asdict(self), "stage2")

    @property
    def trains(self) -> bool:
        return self.kind in TRAINED_KINDS

    @property
    def scaled(self) -> bool:
        """True when the classifier gains LWS scales."""
        return self.kind in ("lws", "mislas")
