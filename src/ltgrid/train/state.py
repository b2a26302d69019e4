"""Where a cell is and what makes it repeat exactly: the state saved in every checkpoint, the
global generators' states, and resuming a killed cell from its checkpoint."""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ltgrid.train.accel import set_deterministic
from ltgrid.train.checkpoint import load_checkpoint


@dataclass
class CellState:
    """Saved (as a dict) in every checkpoint, so a killed cell resumes exactly."""

    stage: int = 0  # index of the stage in progress (len(stages): the post-hoc step, if any)
    epoch: int = 0  # next epoch of that stage
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per finished epoch
    best: dict[str, dict[str, Any]] = field(default_factory=dict)  # per eval set: acc, epoch, logits file
    run_id: str | None = None
    train_seconds: float = 0.0


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    set_deterministic(deterministic)


def rng_states() -> dict[str, Any]:
    """Every global generator a cell may draw from (its own torch.Generator is saved beside)."""
    return {
        "python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"].cpu())
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in states["cuda"]])


def resume(out_dir: Path, cell: dict[str, Any], model: nn.Module, generator: torch.Generator, device: torch.device,
           label: str) -> tuple[CellState, dict[str, Any] | None]:
    """The state to start from: a fresh one, or the checkpoint's (model, generators restored) when
    it was written for exactly this cell's params."""
    saved, why_not = load_checkpoint(out_dir, cell, device)
    if why_not:
        print(f"[{label}] {why_not}", file=sys.stderr, flush=True)
    if saved is None:
        return CellState(), None
    model.load_state_dict(saved["model"])
    generator.set_state(saved["generator"].cpu())
    set_rng_states(saved["rng"])
    state = CellState(**saved["state"])
    print(f"[{label}] resuming at stage {state.stage}, epoch {state.epoch}", file=sys.stderr, flush=True)
    return state, saved
