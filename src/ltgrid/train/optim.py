"""The recipe's optimiser and learning-rate schedule (linear warm-up, then step factors or a cosine)."""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch


def lr_at(epoch: int, base_lr: float, warmup_epochs: int = 0, steps: Iterable[dict[str, Any]] = (),
          cosine_epochs: int | None = None) -> float:
    """Learning rate for a 0-based epoch.

    Warm-up: base * (epoch + 1) / warmup_epochs for the first `warmup_epochs` epochs (as in
    the LDAM-DRW / Prior-LT recipes). After it, each step {epoch: e, factor: f} sets
    lr = base * f from epoch e on; factors are relative to the base lr, not cumulative
    (the paper's "x0.01 at 160, x0.0001 at 180" is steps [{160, 0.01}, {180, 1e-4}]).
    With `cosine_epochs` = E (the recipe's epochs; the schema forbids steps with it) the lr after
    warm-up W is base * (1 + cos(pi (epoch - W) / (E - W))) / 2: PyTorch's CosineAnnealingLR
    (eta_min 0, T_max = E - W) stepped once an epoch, as the LOS code runs it (bilibili/LOS main_stage1.py).
    """
    if epoch < warmup_epochs:
        return base_lr * (epoch + 1) / warmup_epochs
    if cosine_epochs is not None:
        return 0.5 * base_lr * (1 + math.cos(math.pi * (epoch - warmup_epochs) / (cosine_epochs - warmup_epochs)))
    factor = 1.0
    for step in sorted(steps, key=lambda s: s["epoch"]):
        if epoch >= step["epoch"]:
            factor = step["factor"]
    return base_lr * factor


def build_optimizer(params: Iterable[Any], spec: dict[str, Any]) -> torch.optim.Optimizer:
    """SGD over parameters, or over param groups that carry an `lr_factor` (see set_lr), from a
    resolved recipe's `optimizer` entry (params.fill_recipe gives every key)."""
    return torch.optim.SGD(
        params, lr=spec["lr"], momentum=spec["momentum"], weight_decay=spec["weight_decay"], nesterov=spec["nesterov"],
    )


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """lr for every group, times the group's `lr_factor` where it has one (MiSLAS's classifier)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_factor", 1.0)
