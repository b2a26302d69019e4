"""Decoupled second stage (Kang et al. 2020): the spec the trainer runs, and tau-normalisation.

Params spell it inside a method, e.g.::

    stage2: {kind: crt, base: ce, sampler: {name: class_balanced}, epochs: 10, lr: 0.1}
    stage2: {kind: tau_norm, base: ce, tau: 1.0, tau_range: [0.0, 2.0, 0.1]}

base: the method whose trained cell (same dataset, ratio, split and seed) is stage 1; the
pipeline reads that cell's model.pt, so stage 1 is trained once and shared. Without a
base, the cell trains its own stage 1 with the method's parts first.
crt: freeze the stage-1 backbone, re-initialise the classifier and train it alone for
`epochs` with `sampler` and learning rate `lr` (plain CE). tau_norm: no training; the
classifier weights become `tau_normalize(W, tau)` and the bias is dropped (set to 0). When the
split has a validation set, tau is chosen on it, as Kang et al. did: every value of `tau_range`
([start, stop, step], stop included) is tried and the one with the best validation accuracy kept
(the smallest on a tie); without one, the fixed `tau`. `tau_range: null` always takes `tau`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from ltgrid.errors import PartError
from ltgrid.methods.catalog import STAGE2, fill

_DEFAULT = {name: arg.default for name, arg in STAGE2.args.items()}


def tau_normalize(classifier_weight: Tensor, tau: float) -> Tensor:
    """w_c / ||w_c||^tau per class row c; tau = 0 leaves W, tau = 1 gives unit rows."""
    if classifier_weight.dim() != 2:
        raise ValueError(f"classifier weight must be 2-D (classes, features), got shape {tuple(classifier_weight.shape)}")
    if not isinstance(tau, (int, float)) or isinstance(tau, bool) or tau < 0:
        raise PartError(f"tau_norm tau must be a number >= 0, got {tau!r}")
    norms = classifier_weight.norm(dim=1, keepdim=True).clamp_min(torch.finfo(classifier_weight.dtype).tiny)
    return classifier_weight / norms.pow(tau)


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
    epochs: int = _DEFAULT["epochs"]
    lr: float = _DEFAULT["lr"]
    tau: float = _DEFAULT["tau"]
    tau_range: list[float] | None = field(default_factory=lambda: list(_DEFAULT["tau_range"]))

    def __post_init__(self) -> None:
        fill(STAGE2, asdict(self), "stage2")

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> "Stage2Spec":
        if not isinstance(spec, dict):
            raise PartError(f"stage2 must be a mapping, got {spec!r}")
        return cls(**fill(STAGE2, spec, "stage2"))
