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

from dataclasses import dataclass, field, fields
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from ltgrid.registry import argument_problem
from ltgrid.methods.samplers import SAMPLERS

STAGE2_KINDS = ("crt", "tau_norm", "lws", "mislas", "finetune")
TRAINED_KINDS = ("crt", "lws", "mislas", "finetune")


def tau_normalize(classifier_weight: Tensor, tau: float) -> Tensor:
    """w_c / ||w_c||^tau per class row c; tau = 0 leaves W, tau = 1 gives unit rows."""
    if classifier_weight.dim() != 2:
        raise ValueError(f"classifier weight must be 2-D (classes, features), got shape {tuple(classifier_weight.shape)}")
    if not isinstance(tau, (int, float)) or isinstance(tau, bool) or tau < 0:
        raise ValueError(f"tau_norm tau must be a number >= 0, got {tau!r}")
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


def _number(value: Any, name: str, minimum: float, strict: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value > minimum if strict else value >= minimum)
    if not ok:
        raise ValueError(f"stage2.{name} must be a number {'>' if strict else '>='} {minimum:g}, got {value!r}")


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


def check_tau_range(tau_range: Any) -> None:
    ok = isinstance(tau_range, (list, tuple)) and len(tau_range) == 3 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in tau_range
    )
    if not ok or tau_range[0] < 0 or tau_range[2] <= 0 or tau_range[1] < tau_range[0]:
        raise ValueError(f"stage2.tau_range must be [start >= 0, stop >= start, step > 0], got {tau_range!r}")


@dataclass(frozen=True)
class Stage2Spec:
    """A validated stage-2 entry; `from_dict` names any bad key or value."""

    kind: str
    base: str | None = None
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "class_balanced"})
    loss: dict[str, Any] = field(default_factory=lambda: {"name": "ce"})
    epochs: int = 10
    lr: float = 0.1
    tau: float = 1.0
    classifier_lr_factor: float = 1.0
    weight_decay: float | None = None
    max_norm: float | None = None
    shift_bn: bool = False
    tau_range: list[float] | None = field(default_factory=lambda: [0.0, 2.0, 0.1])

    def __post_init__(self) -> None:
        if self.kind not in STAGE2_KINDS:
            raise ValueError(f"stage2.kind {self.kind!r} is not one of {', '.join(STAGE2_KINDS)}")
        if not isinstance(self.sampler, dict) or "name" not in self.sampler:
            raise ValueError(f"stage2.sampler must be a mapping with a 'name', got {self.sampler!r}")
        if not isinstance(self.loss, dict) or "name" not in self.loss:
            raise ValueError(f"stage2.loss must be a mapping with a 'name', got {self.loss!r}")
        kwargs = {k: v for k, v in self.sampler.items() if k != "name"}
        sampler_name = self.sampler["name"]
        if sampler_name not in SAMPLERS:
            raise ValueError(f"stage2.sampler.name {sampler_name!r} is not a known sampler; known: {', '.join(SAMPLERS.names())}")
        problem = argument_problem(SAMPLERS.get(sampler_name), kwargs, supplied=("class_counts",))
        if problem:
            raise ValueError(f"stage2.sampler {sampler_name!r}: {problem}")
        if self.base is not None and (not isinstance(self.base, str) or not self.base):
            raise ValueError(f"stage2.base must be a method name, got {self.base!r}")
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 1:
            raise ValueError(f"stage2.epochs must be an integer >= 1, got {self.epochs!r}")
        _number(self.lr, "lr", 0, strict=True)
        _number(self.tau, "tau", 0, strict=False)
        _number(self.classifier_lr_factor, "classifier_lr_factor", 0, strict=True)
        if self.weight_decay is not None:
            _number(self.weight_decay, "weight_decay", 0, strict=False)
        if self.max_norm is not None:
            _number(self.max_norm, "max_norm", 0, strict=False)
            if self.kind not in ("crt", "mislas", "finetune"):
                raise ValueError(f"stage2.max_norm constrains a trained classifier; kind {self.kind!r} trains none")
        if not isinstance(self.shift_bn, bool):
            raise ValueError(f"stage2.shift_bn must be true or false, got {self.shift_bn!r}")
        if self.tau_range is not None:
            check_tau_range(self.tau_range)

    @property
    def trains(self) -> bool:
        return self.kind in TRAINED_KINDS

    @property
    def scaled(self) -> bool:
        """True when the classifier gains LWS scales."""
        return self.kind in ("lws", "mislas")

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> "Stage2Spec":
        if not isinstance(spec, dict):
            raise ValueError(f"stage2 must be a mapping, got {spec!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"stage2 has unknown key(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
        if "kind" not in spec:
            raise ValueError(f"stage2 needs a 'kind' ({', '.join(STAGE2_KINDS)})")
        return cls(**spec)
