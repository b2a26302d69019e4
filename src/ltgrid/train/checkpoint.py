"""A cell's resumable state on disk: a lean checkpoint every epoch, the best predictions apart.

The checkpoint (`checkpoint.pt`, rewritten atomically each epoch) holds what resuming needs
and nothing that grows with the evaluation set: model, optimiser, generator and RNG states,
the history and which epoch is best (accuracy, epoch, the name of its predictions file).
The best epoch's logits on every evaluation set (test: 24,426 x 8,142 float32 = 0.8 GB for
iNaturalist 2018; val, which temperature scaling fits on) go to `best-e<epoch>.npz`, written
atomically only in an epoch where a best changes, before the checkpoint that names it. A file is removed only once a written checkpoint no longer names
it, so whatever a kill interrupts, the last checkpoint's files are on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ltgrid.io import atomic_path, open_npz

CHECKPOINT = "checkpoint.pt"
LAYOUT = 2  # checkpoints of another layout are not resumed from
BEST_GLOB = "best-e*.npz"


def best_name(epoch: int) -> str:
    return f"best-e{epoch}.npz"


def save_best(out_dir: Path, epoch: int, logits: dict[str, np.ndarray]) -> str:
    """Write one epoch's logits per evaluation set (atomically); returns the name the checkpoint records."""
    name = best_name(epoch)
    with atomic_path(out_dir / name) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **logits)
    return name


def load_best(out_dir: Path, best: dict[str, Any]) -> dict[str, np.ndarray]:
    """{eval set name: logits} of a best epoch."""
    with open_npz(out_dir / best["file"]) as z:
        return {k: z[k] for k in z.files}


def save_checkpoint(out_dir: Path, payload: dict[str, Any]) -> None:
    """checkpoint.pt atomically, then the best files it no longer names are removed."""
    with atomic_path(out_dir / CHECKPOINT) as tmp:
        torch.save({**payload, "layout": LAYOUT}, tmp)
    named = {best["file"] for best in payload["state"]["best"].values()}
    for path in out_dir.glob(BEST_GLOB):
        if path.name not in named:
            path.unlink(missing_ok=True)


def load_checkpoint(out_dir: Path, cell: dict[str, Any], device: torch.device) -> tuple[dict[str, Any] | None, str]:
    """The checkpoint of this very cell, or None and why not ("" when there is none)."""
    path = out_dir / CHECKPOINT
    if not path.exists():
        return None, ""
    saved = torch.load(path, map_location=device, weights_only=False)
    if saved.get("cell") != cell:
        return None, "ignoring a checkpoint written for other params"
    if saved.get("layout") != LAYOUT:
        return None, "ignoring a checkpoint of another layout"
    return saved, ""


def remove_checkpoint(out_dir: Path) -> None:
    """The finished cell's outputs are written: drop the resumable state."""
    (out_dir / CHECKPOINT).unlink(missing_ok=True)
    for path in out_dir.glob(BEST_GLOB):
        path.unlink(missing_ok=True)
