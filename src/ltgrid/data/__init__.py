"""Data: sources (how raw images arrive), the arrays form, long-tailed splits, augmentation.

A dataset's params entry names a source `kind`; the source writes `dataset.npz`
(see arrays.py) into the dataset's raw folder. Sources are looked up by kind in
source_table.py, so a new dataset format is one small module and one table row.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ltgrid.data.arrays import ArrayDataset, load_arrays, save_arrays
from ltgrid.data.source_table import SOURCE_TABLE
from ltgrid.io import open_npz
from ltgrid.registry import Registry

if TYPE_CHECKING:
    from ltgrid.data.listfile import ListFileDataset

# A source builder takes its params (minus `kind`) and a scratch folder for downloads, and returns
# the dataset's arrays (or a ListFileDataset: paths and labels, no pixels). Built-ins are imported
# on first use, so `import ltgrid.data` stays free of torch (the CLI loads it after its GPU lease).
SOURCES: Registry[Any] = Registry("data source", {kind: entry.builder for kind, entry in SOURCE_TABLE.items()})


def prepare_dataset(source: dict[str, Any], out_path: str | Path) -> ArrayDataset | ListFileDataset:
    """Build a dataset from its source params and write it atomically to `out_path`."""
    spec = dict(source)
    kind = spec.pop("kind")
    out_path = Path(out_path)
    work_dir = out_path.parent / "download"
    ds = SOURCES.build(kind, work_dir=work_dir, **spec)
    if isinstance(ds, ArrayDataset):
        save_arrays(out_path, ds)
    else:
        ds.save(out_path)
    return ds


def train_labels(path: str | Path) -> tuple[np.ndarray, int]:
    """A prepared dataset's training labels and class count, whatever its format (no pixels read)."""
    with open_npz(path) as z:
        return z["train_y"], len(z["classes"])


def labels_of_test_set(path: str | Path) -> np.ndarray:
    """A prepared dataset's test labels (the held-out test slice is drawn on them)."""
    with open_npz(path) as z:
        return z["test_y"]


__all__ = ["SOURCES", "ArrayDataset", "load_arrays", "save_arrays", "prepare_dataset", "train_labels", "labels_of_test_set"]
