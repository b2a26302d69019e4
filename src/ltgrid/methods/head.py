"""What a loss asks of the classifier it trains: a bias initialisation and whether that bias decays.

Cui et al.'s sigmoid losses start the last layer's bias at a prior (-log(C - 1)) and keep it out of
weight decay; a loss says so through `Loss.classifier_bias_init` / `Loss.decays_classifier_bias`,
and the trainer applies both once, where it builds the model and stage 1's optimiser.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ltgrid.methods.base import Loss


def classifier_bias(model: nn.Module) -> nn.Parameter | None:
    """The final classifier's bias (None for a bias-free classifier such as LDAM's cosine one)."""
    return getattr(getattr(model, "classifier", None), "bias", None)


def init_classifier_bias(model: nn.Module, loss: Loss) -> None:
    """Set the freshly built classifier's bias to the loss's constant, when it asks for one."""
    value, bias = loss.classifier_bias_init(), classifier_bias(model)
    if value is None:
        return
    if bias is None:
        raise ValueError(f"{type(loss).__name__} initialises the classifier bias, but the model's classifier has none")
    with torch.no_grad():
        bias.fill_(value)


def undecayed(model: nn.Module, loss: Loss) -> list[nn.Parameter]:
    """The parameters the loss keeps out of weight decay (its classifier's bias, or none)."""
    bias = classifier_bias(model)
    return [bias] if bias is not None and not loss.decays_classifier_bias else []


def decay_groups(params: Sequence[nn.Parameter], no_decay: Sequence[nn.Parameter]) -> list[Any]:
    """`params` as they are, or two optimiser groups with `no_decay` at weight decay 0."""
    if not no_decay:
        return list(params)
    rest = [p for p in params if all(p is not q for q in no_decay)]
    kept = [p for p in params if any(p is q for q in no_decay)]
    return [{"params": rest}, {"params": kept, "weight_decay": 0.0}]
