"""The on-disk form of an in-memory image dataset: one `dataset.npz` per dataset.

train_x/test_x are uint8 (N, H, W, C); train_y/test_y int64; `classes` the class names
in label order. Every source (embedded digits, CIFAR archives, image folders) writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltgrid.io import atomic_path, open_npz


@dataclass(frozen=True)
class ArrayDataset:
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def check(self) -> None:
        """Fail early on malformed arrays, naming the field."""
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != np.uint8 or x.ndim != 4:
                raise ValueError(f"{split}_x must be uint8 (N, H, W, C), got {x.dtype} {x.shape}")
            if len(x) != len(y):
                raise ValueError(f"{split}_x has {len(x)} images but {split}_y has {len(y)} labels")
            if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(f"{split}_y has labels outside 0..{self.num_classes - 1}")


def save_arrays(path: str | Path, ds: ArrayDataset) -> None:
    ds.check()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                train_x=ds.train_x,
                train_y=ds.train_y.astype(np.int64),
                test_x=ds.test_x,
                test_y=ds.test_y.astype(np.int64),
                classes=np.array(ds.classes),
                format=np.array("arrays"),
            )


def load_arrays(path: str | Path) -> ArrayDataset:
    with open_npz(path) as z:
        return ArrayDataset(
            train_x=z["train_x"],
            train_y=z["train_y"],
            test_x=z["test_x"],
            test_y=z["test_y"],
            classes=tuple(str(c) for c in z["classes"]),
        )
