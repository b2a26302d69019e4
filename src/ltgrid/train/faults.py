"""Fault injection for the robustness tests: `LTGRID_FAULT=<kind>@<epoch>:<batch>`.

Some faults cannot be caused for real on a test machine (a CPU has no GPU memory to run
out of) or not at an exact place (a NaN at batch 3 of epoch 1). The trainer asks this module
once per epoch; with the variable unset (every real run) nothing happens.

Kinds:
  nan_loss  the loss of that batch becomes NaN (as an overflowing model would give)
  oom       torch.cuda.OutOfMemoryError is raised at that batch
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
from torch import Tensor
from ltgrid.errors import SettingError

ENV = "LTGRID_FAULT"
KINDS = ("nan_loss", "oom")


@dataclass(frozen=True)
class Fault:
    kind: str
    epoch: int
    batch: int


def parse(text: str | None) -> Fault | None:
    """`nan_loss@1:3` -> Fault('nan_loss', 1, 3); empty -> None; anything else is refused loudly."""
    if not text:
        return None
    match = re.fullmatch(r"(\w+)@(\d+):(\d+)", text.strip())
    if match is None or match.group(1) not in KINDS:
        raise SettingError(f"{ENV}={text!r}: expected <kind>@<epoch>:<batch> with kind one of {list(KINDS)}")
    return Fault(match.group(1), int(match.group(2)), int(match.group(3)))


def active() -> Fault | None:
    return parse(os.environ.get(ENV))


def inject(fault: Fault | None, loss: Tensor, epoch: int, batch: int) -> Tensor:
    """The loss unchanged, unless `fault` is due at this (epoch, batch)."""
    if fault is None or (fault.epoch, fault.batch) != (epoch, batch):
        return loss
    if fault.kind == "oom":
        raise torch.cuda.OutOfMemoryError(f"injected by {ENV}: CUDA out of memory (epoch {epoch}, batch {batch})")
    return loss * float("nan")
