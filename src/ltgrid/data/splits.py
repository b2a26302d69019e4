"""Long-tailed training splits, stored as index files (an artifact, never recomputed in training).

Profile (Cao et al. 2019, reused by the paper): n_i = floor(n_max * rho^(-i/(C-1))), class 0
the head. Which images: one seeded numpy RandomState, class by class in class order, shuffles
that class's indices and keeps the first n_i; an optional balanced validation split takes
`val_per_class` of the images the LT split left out.

Held-out test slice (`test_holdout_per_class`, for CIFAR, whose head class has no spare
training image at n_max = 5000): a fixed, seeded, balanced slice of the official test set
becomes the validation set (model selection, temperature scaling, tau-norm's tau) and every
reported figure is computed on the rest of the test set. The slice depends only on the test
labels and the split seed (its own RandomState, so it is the same slice at every ratio):
class by class, in class order, shuffle that class's test indices and hold out the first k.
The split file then says `val_source: test`, `val_indices` index the test set and
`test_indices` (sorted) are the reported test images; the two are disjoint by construction.

Mode `given` (ImageNet-LT, iNaturalist 2018): the split files already are the long-tailed
split, so every listed training image is kept and the counts are read off the labels. The
grid's ratio must then be the lists' own max/min count (256 for ImageNet-LT's 1280/5, 500 for
iNat 2018's 1000/2): it names the cell and is checked, never applied.

A split file names the labels it was drawn on (`labels_sha256`), and training refuses a split
whose dataset's labels differ: rule split takes its dataset as `ancient`, because a `dvc pull`
checks files out in no fixed order and a dataset landing after its splits must not redraw them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ltgrid.io import open_npz, read_json, write_json
from ltgrid.errors import DataError


def lt_counts(n_max: int, num_classes: int, rho: float) -> list[int]:
    """Exponential long-tail profile; computed as n_max * (1/rho)^(i/(C-1)) like the reference code."""
    if rho < 1:
        raise DataError(f"imbalance ratio rho must be >= 1, got {rho}")
    if num_classes == 1:
        return [int(n_max)]
    return [int(n_max * (1.0 / rho) ** (i / (num_classes - 1.0))) for i in range(num_classes)]


def given_split(train_y: np.ndarray, rho: float, seed: int, num_classes: int | None = None) -> dict[str, Any]:
    """Keep every training image; check that `rho` is the lists' own imbalance ratio."""
    train_y = np.asarray(train_y)
    counts = np.bincount(train_y, minlength=num_classes or 0)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        raise DataError(f"split mode 'given': class(es) {empty[:10].tolist()} have no training image")
    own = counts.max() / counts.min()
    if not np.isclose(rho, own, rtol=1e-6):
        raise DataError(
            f"split mode 'given': ratio rho={rho:g} is not the split files' own ratio "
            f"{int(counts.max())}/{int(counts.min())} = {own:g}; set the dataset's ratios to [{own:g}]"
        )
    return {
        "mode": "given",
        "rho": rho,
        "seed": seed,
        "n_max": int(counts.max()),
        "counts": counts.tolist(),
        "train_indices": list(range(len(train_y))),
        "val_indices": [],
    }


def holdout_slice(test_y: np.ndarray, per_class: int, seed: int) -> tuple[list[int], list[int]]:
    """(held-out, reported) test indices: `per_class` seeded images of every class held out, the rest
    (sorted) reported. Raises naming the class when one has too few test images to leave any."""
    test_y = np.asarray(test_y)
    if not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise DataError(f"test_holdout_per_class must be an integer >= 1, got {per_class!r}")
    num_classes = int(test_y.max()) + 1
    rng = np.random.RandomState(seed)
    held = []
    for c in range(num_classes):
        idx = np.flatnonzero(test_y == c)
        if len(idx) <= per_class:
            raise DataError(
                f"test_holdout_per_class={per_class}: class {c} has only {len(idx)} test images; "
                "hold out fewer so that some remain to report on"
            )
        rng.shuffle(idx)
        held.append(idx[:per_class])
    held_idx = np.concatenate(held)
    rest = np.setdiff1d(np.arange(len(test_y)), held_idx)
    return held_idx.tolist(), rest.tolist()


def with_test_holdout(split: dict[str, Any], test_y: np.ndarray, per_class: int, seed: int) -> dict[str, Any]:
    """A split whose validation set is a held-out slice of the test set (see the module docstring)."""
    if split["val_indices"]:
        raise DataError("test_holdout_per_class and val_per_class both give a validation set: set only one")
    held, rest = holdout_slice(test_y, per_class, seed)
    return {**split, "val_source": "test", "val_indices": held, "test_indices": rest,
            "test_holdout_per_class": int(per_class)}


def make_split(
    train_y: np.ndarray,
    rho: float,
    seed: int,
    n_max: int | None = None,
    val_per_class: int = 0,
    mode: str = "profile",
    num_classes: int | None = None,
    test_y: np.ndarray | None = None,
    test_holdout_per_class: int = 0,
) -> dict[str, Any]:
    """Return {"counts", "train_indices", "val_indices", ...} for one (dataset, rho, seed)."""
    if test_holdout_per_class:
        if test_y is None:
            raise DataError("test_holdout_per_class needs the test labels")
        split = make_split(train_y, rho, seed, n_max, val_per_class, mode, num_classes)
        return with_test_holdout(split, test_y, test_holdout_per_class, seed)
    if mode == "given":
        if n_max is not None or val_per_class:
            raise DataError(
                f"split mode 'given' keeps the split files as they are: drop n_max ({n_max}) and "
                f"val_per_class ({val_per_class}) (the val split file is the validation set)"
            )
        return given_split(train_y, rho, seed, num_classes)
    if mode != "profile":
        raise DataError(f"split mode {mode!r}: expected 'profile' or 'given'")
    train_y = np.asarray(train_y)
    if val_per_class < 0:
        raise DataError(f"val_per_class must be >= 0, got {val_per_class}")
    num_classes = int(train_y.max()) + 1
    available = np.bincount(train_y, minlength=num_classes)
    n_max = int(available[0]) if n_max is None else int(n_max)
    counts = lt_counts(n_max, num_classes, rho)
    rng = np.random.RandomState(seed)
    keep, val = [], []
    for c in range(num_classes):
        idx = np.flatnonzero(train_y == c)
        if counts[c] > len(idx):
            raise DataError(f"class {c} has {len(idx)} images but the profile (n_max={n_max}, rho={rho}) asks {counts[c]}")
        rng.shuffle(idx)
        keep.append(idx[: counts[c]])
        if val_per_class:
            left = idx[counts[c] :]
            if len(left) < val_per_class:
                raise DataError(
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


LABEL_ARRAYS = ("classes", "train_y", "test_y")


def labels_digest(data: str | Path) -> str:
    """sha256 of a prepared dataset's class names and train and test labels, in order: what a
    split's indices mean (no pixels read)."""
    digest = hashlib.sha256()
    with open_npz(data) as z:
        for key in LABEL_ARRAYS:
            array = np.ascontiguousarray(z[key])
            digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def write_split(path: str | Path, split: dict[str, Any], dataset: str, labels_sha256: str) -> None:
    write_json(path, {"dataset": dataset, "labels_sha256": labels_sha256, **split})


def split_dataset(data: str | Path, dataset: str, rho: float, seed: int, options: dict[str, Any], out: str | Path) -> dict[str, Any]:
    """The split file of one (dataset, rho, split seed) from a prepared dataset.npz, written
    atomically; `options` are params.split_options (every key given). What rule split runs."""
    from ltgrid.data import labels_of_test_set, train_labels

    labels, num_classes = train_labels(data)
    holdout = options["test_holdout_per_class"]
    split = make_split(
        labels, rho, seed, n_max=options["n_max"], val_per_class=options["val_per_class"], mode=options["mode"],
        num_classes=num_classes, test_y=labels_of_test_set(data) if holdout else None, test_holdout_per_class=holdout,
    )
    write_split(out, split, dataset, labels_digest(data))
    return split


def read_split(path: str | Path, data: str | Path) -> dict[str, Any]:
    """A split file, checked against the prepared dataset it will index."""
    split = read_json(path)
    for key in ("counts", "train_indices", "val_indices"):
        if key not in split:
            raise DataError(f"split file {path} lacks {key!r}")
    if split.get("labels_sha256") != labels_digest(data):
        raise DataError(
            f"split file {path} was not drawn on the labels {data} holds now (the dataset was prepared "
            "again since, or the split predates labels_sha256): delete the split file and rerun"
        )
    return split
