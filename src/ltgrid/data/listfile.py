"""List-file datasets (ImageNet-LT, iNaturalist 2018): an image root plus "relative/path label" files.

Prepare (`listfile_source`) reads the split files (ImageNet-LT's `ImageNet_LT_{train,val,test}.txt`
of Liu et al. 2019, or the iNat lists `inat.py` writes), verifies their checksums, checks that
every listed image exists and every label is in range, checks the class counts against the
totals the params expect, and writes `dataset.npz` with format "listfile": the root, the
relative paths and the labels, never pixels. The decoding feed is `listfile_feed.py`.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ltgrid.data.sources import SourceError, verified_file
from ltgrid.io import atomic_path, open_npz
from ltgrid.errors import DataError

SETS = ("train", "val", "test")


# ---------------------------------------------------------------- prepare: lists -> dataset.npz


def read_list(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Parse "relative/path label" lines (the path may hold spaces; the label is the last field)."""
    paths: list[str] = []
    labels: list[int] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(None, 1)
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise SourceError(f"{path}:{lineno}: expected 'relative/path label', got {line!r}")
            rel = parts[0]
            if rel.startswith(("/", "\\")) or ".." in Path(rel).parts:
                raise SourceError(f"{path}:{lineno}: image path {rel!r} must be relative to the image root, without '..'")
            paths.append(rel)
            labels.append(int(parts[1]))
    if not paths:
        raise SourceError(f"split file {path} lists no images")
    return paths, np.asarray(labels, dtype=np.int64)


def verify_list(which: str, spec: dict[str, Any]) -> dict[str, str]:
    """Check a split file's checksums (any of md5 / sha256 the params give); return its digests."""
    return verified_file(spec, f"source.{which}", "split file")[1]


def missing_images(root: Path, paths: Sequence[str]) -> list[str]:
    """Listed images absent under `root`: one directory listing per folder, not one stat per image."""
    by_dir: dict[str, list[str]] = defaultdict(list)
    for rel in paths:
        head, _, name = rel.replace("\\", "/").rpartition("/")
        by_dir[head].append(name)
    missing: list[str] = []
    for folder, names in by_dir.items():
        try:
            present = {e.name for e in os.scandir(root / folder) if e.is_file()}
        except (FileNotFoundError, NotADirectoryError):
            present = set()
        missing.extend(f"{folder}/{n}" if folder else n for n in names if n not in present)
    return missing


@dataclass(frozen=True)
class ListFileDataset:
    """An image root and, per set (train / val / test), relative paths and labels."""

    root: str
    num_classes: int
    paths: dict[str, np.ndarray]  # set -> bytes array of UTF-8 relative paths
    labels: dict[str, np.ndarray]  # set -> int64 labels
    lists: dict[str, dict[str, str]] = field(default_factory=dict)  # set -> {path, md5, sha256}

    @property
    def train_y(self) -> np.ndarray:
        return self.labels["train"]

    @property
    def test_y(self) -> np.ndarray:
        return self.labels["test"]

    def class_counts(self, which: str = "train") -> np.ndarray:
        return np.bincount(self.labels[which], minlength=self.num_classes)

    def save(self, path: str | Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "format": np.array("listfile"),
            "root": np.array(self.root),
            "classes": np.array([str(c) for c in range(self.num_classes)]),
            "lists": np.array(json.dumps(self.lists, sort_keys=True)),  # provenance: files and digests
        }
        for which in self.paths:
            arrays[f"{which}_paths"] = self.paths[which]
            arrays[f"{which}_y"] = self.labels[which].astype(np.int64)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "ListFileDataset":
        with open_npz(path) as z:
            sets = [w for w in SETS if f"{w}_paths" in z.files]
            return cls(
                root=str(z["root"]),
                num_classes=len(z["classes"]),
                paths={w: z[f"{w}_paths"] for w in sets},
                labels={w: z[f"{w}_y"] for w in sets},
            )


def check_expected(ds: ListFileDataset, expect: dict[str, int]) -> None:
    """Compare the lists with the totals the params promise (e.g. ImageNet-LT: 115,846 train images)."""
    counts = ds.class_counts("train")
    found = {
        "num_classes": ds.num_classes,
        "train_images": int(counts.sum()),
        "max_per_class": int(counts.max()),
        "min_per_class": int(counts.min()),
        **{f"{w}_images": len(ds.labels[w]) for w in ("val", "test") if w in ds.labels},
    }
    unknown = sorted(set(expect) - set(found) - {"val_images"})
    if unknown:
        raise DataError(f"source.expect: unknown key(s) {unknown}; allowed: {sorted(found)}")
    bad = [f"{k}: expected {v}, the split files give {found.get(k)}" for k, v in expect.items() if found.get(k) != v]
    if bad:
        raise SourceError("split files do not match source.expect: " + "; ".join(bad))


def listfile_source(
    work_dir: Path,
    root: str,
    train: dict[str, Any],
    test: dict[str, Any],
    val: dict[str, Any] | None = None,
    num_classes: int | None = None,
    expect: dict[str, int] | None = None,
    annotations: dict[str, Any] | None = None,
) -> ListFileDataset:
    """Read and check the split files of a list-file dataset (nothing is copied or decoded).

    `annotations` names the JSON files the lists were converted from (iNat; the `inat_list`
    rule converts them): recorded in the params so a new annotation file re-prepares.
    """
    del work_dir, annotations  # nothing to download; provenance only
    image_root = Path(root).expanduser().resolve()
    if not image_root.is_dir():
        raise SourceError(
            f"source.root: image root {image_root} does not exist or is not a folder; point it at the "
            "folder the split files' paths are relative to (download the images first)"
        )
    specs = {"train": train, "test": test, **({"val": val} if val is not None else {})}
    lists = {w: {"path": str(spec.get("path")), **verify_list(w, spec)} for w, spec in specs.items()}
    parsed = {w: read_list(Path(spec["path"]).expanduser()) for w, spec in specs.items()}
    n_classes = int(num_classes) if num_classes is not None else 1 + max(int(y.max()) for _, y in parsed.values())
    for which, (paths, labels) in parsed.items():
        bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
        if len(bad):
            i = int(bad[0])
            raise SourceError(
                f"{specs[which]['path']}: {paths[i]} has label {labels[i]}, outside 0..{n_classes - 1} "
                f"({len(bad)} such lines)"
            )
        missing = missing_images(image_root, paths)
        if missing:
            raise SourceError(
                f"{len(missing)} of the {len(paths)} images in {specs[which]['path']} are missing, e.g. "
                f"{image_root / missing[0]}; is source.root the folder the paths are relative to?"
            )
    ds = ListFileDataset(
        root=str(image_root),
        num_classes=n_classes,
        paths={w: np.char.encode(np.asarray(p, dtype=str), "utf-8") for w, (p, _) in parsed.items()},
        labels={w: y for w, (_, y) in parsed.items()},
        lists=lists,
    )
    empty = np.flatnonzero(ds.class_counts("train") == 0)
    if len(empty):
        raise SourceError(f"{train['path']}: class(es) {empty[:10].tolist()} have no training image")
    if expect:
        check_expected(ds, expect)
    return ds
