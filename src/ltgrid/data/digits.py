"""The embedded default dataset: scikit-learn's bundled 8x8 digits (1,797 real images, offline).

A fixed, seeded, balanced test split is held out; the remaining images form the pool
from which long-tailed training splits are drawn (see splits.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ltgrid.data.arrays import ArrayDataset
from ltgrid.errors import DataError


def digits_source(work_dir: Path, test_per_class: int = 50, seed: int = 0) -> ArrayDataset:
    """The `sklearn_digits` source: bundled with scikit-learn, nothing to fetch into `work_dir`."""
    return digits_arrays(test_per_class=test_per_class, seed=seed)


def digits_arrays(test_per_class: int = 50, seed: int = 0) -> ArrayDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # (N, 8, 8, 1)
    labels = bunch.target.astype(np.int64)
    rng = np.random.RandomState(seed)
    test_idx = []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        if len(idx) <= test_per_class:
            raise DataError(f"digits: test_per_class={test_per_class} leaves no training images of class {c}")
        test_idx.append(rng.permutation(idx)[:test_per_class])
    test = np.sort(np.concatenate(test_idx))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return ArrayDataset(
        train_x=images[train],
        train_y=labels[train],
        test_x=images[test],
        test_y=labels[test],
        classes=tuple(str(c) for c in range(10)),
    )
