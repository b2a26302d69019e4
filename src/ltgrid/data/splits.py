"""Long-tailed training splits, stored as index files (an artifact, never recomputed in training).

Profile (Cao et al. 2019, reused by the paper): n_i = floor(n_max * rho^(-i/(C-1))), class 0
the head. Which images: one seeded numpy RandomState, class by class in class order, shuffles
that class's indices and keeps the first n_i; an optional balanced validation split takes
`val_per_class` of the images the LT split left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ltgrid.io import read_json, write_json


def lt_counts(n_max: int, num_classes: int, rho: float) -> list[int]:
    """Exponential long-tail profile; computed as n_max * (1/rho)^(i/(C-1)) like the reference code."""
    if rho < 1:
        raise ValueError(f"imbalance ratio rho must be >= 1, got {rho}")
    if num_classes == 1:
        return [int(n_max)]
    return [int(n_max * (1.0 / rho) ** (i / (num_classes - 1.0))) for i in range(num_classes)]


def make_split(
    train_y: np.ndarray,
    rho: float,
    seed: int,
    n_max: int | None = None,
    val_per_class: int = 0,
) -> dict[str, Any]:
    """Return {"counts", "train_indices", "val_indices", ...} for one (dataset, rho, seed)."""
    train_y = np.asarray(train_y)
    if val_per_class < 0:
        raise ValueError(f"val_per_class must be >= 0, got {val_per_class}")
    num_classes = int(train_y.max()) + 1
    available = np.bincount(train_y, minlength=num_classes)
    n_max = int(available[0]) if n_max is None else int(n_max)
    counts = lt_counts(n_max, num_classes, rho)
    rng = np.random.RandomState(seed)
    keep, val = [], []
    for c in range(num_classes):
        idx = np.flatnonzero(train_y == c)
        if counts[c] > len(idx):
            raise ValueError(f"class {c} has {len(idx)} images but the profile (n_max={n_max}, rho={rho}) asks {counts[c]}")
        rng.shuffle(idx)
        keep.append(idx[: counts[c]])
        if val_per_class:
            left = idx[counts[c] :]
            if len(left) < val_per_class:
                raise ValueError(
                    f"val_per_class={val_per_class}: class {c} has only {len(left)} images left out of the "
                    f"LT split (n_max={n_max}); lower val_per_class or n_max (class 0 keeps n_max images, "
                    f"so n_max can be at most {int(available[0]) - val_per_class})"
                )
            val.append(left[-val_per_class:])
    return {
        "rho": rho,
        "seed": seed,
        "n_max": n_max,
        "counts": counts,
        "train_indices": np.concatenate(keep).tolist(),
        "val_indices": np.concatenate(val).tolist() if val else [],
    }


def write_split(path: str | Path, split: dict[str, Any], dataset: str) -> None:
    write_json(path, {"dataset": dataset, **split})


def read_split(path: str | Path) -> dict[str, Any]:
    split = read_json(path)
    for key in ("counts", "train_indices", "val_indices"):
        if key not in split:
            raise ValueError(f"split file {path} lacks {key!r}")
    return split
