"""CIFAR-10 and CIFAR-100 from the official "python version" archives, in the official order.

The long-tailed split convention keeps "the first n_i images of class i" of the official
training set, so the images are kept exactly in archive order (data_batch_1..5, then within
each batch by row). Pickles are read with an unpickler that only rebuilds numpy arrays,
so an archive (even one with a matching user-given checksum) cannot run code.
"""

from __future__ import annotations

import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltgrid.data.arrays import ArrayDataset
from ltgrid.data.sources import SourceError, fetch, safe_extract
from ltgrid.errors import DataError


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant keeps its files and labels inside the official archive."""

    kind: str
    url: str
    md5: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    names_key: str
    labels_key: str
    num_classes: int

    @property
    def archive_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


CIFAR10 = CifarLayout(
    kind="cifar10",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_files=("test_batch",),
    meta_file="batches.meta",
    names_key="label_names",
    labels_key="labels",
    num_classes=10,
)
CIFAR100 = CifarLayout(
    kind="cifar100",
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    md5="eb9058c3a382ffc7106e4002c42a8d85",
    folder="cifar-100-python",
    train_files=("train",),
    test_files=("test",),
    meta_file="meta",
    names_key="fine_label_names",
    labels_key="fine_labels",
    num_classes=100,
)

_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes in pickle protocol 2
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and plain containers, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only arrays and lists")
        if module.startswith("numpy.core."):  # numpy 2 renamed numpy.core to numpy._core
            module = "numpy._core." + module[len("numpy.core.") :]
        return super().find_class(module, name)


def _read_pickle(path: Path) -> dict[str, Any]:
    """Load one CIFAR pickle (Python 2 era, byte-string keys) as a dict with str keys."""
    if not path.is_file():
        raise SourceError(f"CIFAR archive lacks {path.parent.name}/{path.name}")
    try:
        with open(path, "rb") as fh:
            obj = _ArrayUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise SourceError(f"CIFAR file {path.name} is not a readable CIFAR pickle: {exc}") from exc
    if not isinstance(obj, dict):
        raise SourceError(f"CIFAR file {path.name} holds a {type(obj).__name__}, expected a dict")
    return {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _read_batches(layout: CifarLayout, folder: Path, files: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate batches in the given (official) order as (N, 32, 32, 3) uint8 and int64 labels."""
    xs, ys = [], []
    for name in files:
        batch = _read_pickle(folder / name)
        for key in ("data", layout.labels_key):
            if key not in batch:
                raise SourceError(f"CIFAR file {name} has no {key!r} entry (keys: {sorted(batch)})")
        data, labels = np.asarray(batch["data"]), np.asarray(batch[layout.labels_key], dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise SourceError(f"CIFAR file {name}: data is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
        if labels.shape != (len(data),):
            raise SourceError(f"CIFAR file {name}: {len(data)} images but labels of shape {labels.shape}")
        if len(labels) and (labels.min() < 0 or labels.max() >= layout.num_classes):
            raise SourceError(f"CIFAR file {name}: labels outside 0..{layout.num_classes - 1}")
        # Each row is the red, green, then blue 32x32 plane, row-major.
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(labels)
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


def read_cifar_folder(layout: CifarLayout, folder: Path) -> ArrayDataset:
    """Read an extracted official CIFAR folder (e.g. cifar-10-batches-py) into arrays."""
    meta = _read_pickle(folder / layout.meta_file)
    names = meta.get(layout.names_key)
    if not isinstance(names, list) or len(names) != layout.num_classes:
        raise SourceError(
            f"CIFAR meta file {layout.meta_file}: {layout.names_key!r} is not a list of {layout.num_classes} names"
        )
    classes = tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names)
    train_x, train_y = _read_batches(layout, folder, layout.train_files)
    test_x, test_y = _read_batches(layout, folder, layout.test_files)
    ds = ArrayDataset(train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y, classes=classes)
    ds.check()
    return ds


def load_cifar(
    layout: CifarLayout,
    work_dir: Path,
    url: str | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    local: str | os.PathLike[str] | None = None,
) -> ArrayDataset:
    """Fetch (or copy from `local`), verify, extract and read one CIFAR archive.

    Without a checksum in the params, the official md5 is required, which also holds for
    a mirror or a local copy of the official archive. The verified archive stays in
    `work_dir` as a download cache; the extracted folder is removed after reading.
    """
    if url is not None and local is not None:
        raise DataError(f"{layout.kind}: give either url ({url!r}) or local ({local!r}), not both")
    if md5 is None and sha256 is None:
        md5 = layout.md5
    location = os.fspath(local) if local is not None else (url or layout.url)
    work_dir = Path(work_dir)
    archive = fetch(location, work_dir / layout.archive_name, md5=md5, sha256=sha256)
    extracted = safe_extract(archive, work_dir / f"{layout.kind}-extracted")
    try:
        return read_cifar_folder(layout, extracted / layout.folder)
    finally:
        shutil.rmtree(extracted, ignore_errors=True)


def cifar10_source(
    work_dir: Path, url: str | None = None, md5: str | None = None, sha256: str | None = None, local: str | None = None
) -> ArrayDataset:
    return load_cifar(CIFAR10, work_dir, url=url, md5=md5, sha256=sha256, local=local)


def cifar100_source(
    work_dir: Path, url: str | None = None, md5: str | None = None, sha256: str | None = None, local: str | None = None
) -> ArrayDataset:
    return load_cifar(CIFAR100, work_dir, url=url, md5=md5, sha256=sha256, local=local)
