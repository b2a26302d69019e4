"""List-file datasets (ImageNet-LT, iNaturalist 2018): an image root plus "relative/path label" files.

Prepare (`listfile_source`) reads the split files (ImageNet-LT's `ImageNet_LT_{train,val,test}.txt`
of Liu et al. 2019, or the iNat lists `inat.py` writes), verifies their checksums, checks that
every listed image exists and every label is in range, checks the class counts against the
totals the params expect, and writes `dataset.npz` with format "listfile": the root, the
relative paths and the labels, never pixels.

The feed (`ListFileFeed`) decodes images in DataLoader worker processes. The trainer asks for
`train_batch(positions)` slice by slice of an epoch order it drew; `plan_epoch(order, ...)`
hands the feed that order first, so the workers decode ahead, in order, while the device
trains. Every image gets its own seed, drawn in the main process from the trainer's
generator, so crops and flips do not depend on how many workers decode them. Each batch
comes back with the positions it holds and is checked against the ones asked for.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from ltgrid.data.sources import ChecksumError, SourceError, file_digests
from ltgrid.io import atomic_path

SETS = ("train", "val", "test")
# ImageNet channel statistics (RGB, 0..1 scale): the normalisation every ImageNet-LT and
# iNat recipe uses; computing them over 115k-437k decoded images would cost an epoch.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHUNK = 64  # images per worker task: a batch of 512 is decoded by 8 workers at once
WORKERS_ENV = "LTGRID_LOADER_WORKERS"


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
    if not isinstance(spec, dict) or "path" not in spec:
        raise ValueError(f"source.{which} must be {{path: <split file>, sha256: <hex>}}, got {spec!r}")
    unknown = sorted(set(spec) - {"path", "md5", "sha256"})
    if unknown:
        raise ValueError(f"source.{which}: unknown key(s) {unknown}; allowed: path, md5, sha256")
    path = Path(spec["path"]).expanduser()
    if not path.is_file():
        raise SourceError(f"source.{which}.path: split file {path} does not exist")
    digests = file_digests(path)
    for algo in ("md5", "sha256"):
        wanted = spec.get(algo)
        if wanted is not None and str(wanted).lower() != digests[algo]:
            raise ChecksumError(
                f"source.{which}: split file {path} has {algo} {digests[algo]}, the params expect {wanted}; "
                "it is not the file the params name"
            )
    return digests


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
        with np.load(path, allow_pickle=False) as z:
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
        raise ValueError(f"source.expect: unknown key(s) {unknown}; allowed: {sorted(found)}")
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


# ---------------------------------------------------------------- feed: decoding in workers


def train_box(width: int, height: int, rng: random.Random, scale_min: float) -> tuple[float, float, float, float]:
    """Random-resized crop (Szegedy et al. 2015): area in [scale_min, 1] of the image,
    aspect ratio log-uniform in [3/4, 4/3]; after 10 misses, the central crop of clamped ratio."""
    area = width * height
    log_lo, log_hi = math.log(3 / 4), math.log(4 / 3)
    for _ in range(10):
        target = area * rng.uniform(scale_min, 1.0)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = rng.randint(0, width - w)
            top = rng.randint(0, height - h)
            return left, top, left + w, top + h
    aspect = min(max(width / height, 3 / 4), 4 / 3)
    w, h = (width, round(width / aspect)) if width / height < aspect else (round(height * aspect), height)
    w, h = min(w, width), min(h, height)
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def eval_box(width: int, height: int, size: int, resize: int) -> tuple[float, float, float, float]:
    """Resize the shorter side to `resize`, take the central size x size: as one box in the original."""
    side = size * min(width, height) / resize
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side


def load_image(path: str, size: int, box_of: Any, hflip_rng: random.Random | None) -> np.ndarray:
    """Decode one image into a uint8 (size, size, 3) crop.

    JPEGs are decoded at a reduced DCT scale (PIL `draft`) when the crop would still cover
    at least `size` pixels: most of the speed-up of a fast loader, at no cost in quality.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            width, height = img.size
            left, top, right, bottom = box_of(width, height)
            shrink = min(right - left, bottom - top) / size
            if shrink >= 2:
                img.draft("RGB", (math.ceil(width / shrink), math.ceil(height / shrink)))
            sx, sy = img.size[0] / width, img.size[1] / height
            rgb = img if img.mode == "RGB" else img.convert("RGB")
            out = rgb.resize((size, size), Image.Resampling.BILINEAR, box=(left * sx, top * sy, right * sx, bottom * sy))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise SourceError(f"cannot decode image {path}: {exc}") from None
    if hflip_rng is not None and hflip_rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(out, dtype=np.uint8)


class ImageReader(torch.utils.data.Dataset):
    """Worker-side: a task is a list of (set, position, seed); seed < 0 means the eval transform."""

    def __init__(self, root: str, paths: dict[str, np.ndarray], size: int, resize: int, scale_min: float, hflip: bool) -> None:
        self.root = root
        self.paths = paths
        self.size, self.resize, self.scale_min, self.hflip = size, resize, scale_min, hflip

    def __len__(self) -> int:
        return sum(len(p) for p in self.paths.values())

    def read(self, which: str, position: int, seed: int) -> np.ndarray:
        path = os.path.join(self.root, self.paths[which][position].decode("utf-8"))
        if seed < 0:
            return load_image(path, self.size, lambda w, h: eval_box(w, h, self.size, self.resize), None)
        rng = random.Random(seed)
        return load_image(path, self.size, lambda w, h: train_box(w, h, rng, self.scale_min), rng if self.hflip else None)

    def __getitem__(self, task: tuple[str, list[int], list[int]]) -> tuple[Tensor, Tensor]:
        which, positions, seeds = task
        images = np.stack([self.read(which, p, s) for p, s in zip(positions, seeds)])
        return torch.from_numpy(images), torch.as_tensor(positions, dtype=torch.int64)


class TaskPlan(torch.utils.data.Sampler):
    """The loader's sampler: the tasks of the current pass, replaced before each `iter(loader)`."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, list[int], list[int]]] = []

    def __iter__(self) -> Iterator[tuple[str, list[int], list[int]]]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)


def seed_worker(worker_id: int) -> None:
    """Seed each worker's global generators from its torch seed (the loader's base seed + id)
    and keep it to one thread: the workers are the parallelism."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(1)


def default_workers() -> int:
    """LTGRID_LOADER_WORKERS, else every CPU this process may use but one (at most 32)."""
    env = os.environ.get(WORKERS_ENV)
    if env is not None:
        if not env.isdigit():
            raise ValueError(f"{WORKERS_ENV}={env!r}: expected a number of worker processes (0 = decode in-process)")
        return int(env)
    return max(1, min(32, len(os.sched_getaffinity(0)) - 1))


def _unwrap(item: Any) -> Any:
    return item


class ListFileFeed:
    """Decodes a list-file dataset in worker processes; the trainer's feed interface."""

    def __init__(
        self,
        ds: ListFileDataset,
        split: dict[str, Any],
        device: torch.device,
        augment: dict[str, Any] | None = None,
        channels_last: bool = False,
        workers: int | None = None,
    ) -> None:
        augment = dict(augment or {})
        if augment.get("crop_padding"):
            raise ValueError(
                f"augment.crop_padding = {augment['crop_padding']}: list-file datasets take random-resized crops "
                "(augment.image_size, crop_scale_min, eval_resize), not padded crops"
            )
        if not Path(ds.root).is_dir():
            raise SourceError(f"image root {ds.root} (from the prepared dataset) is not there on this machine")
        self.size = int(augment.get("image_size", 224))
        resize = int(augment.get("eval_resize", round(self.size * 256 / 224)))
        if resize < self.size:
            raise ValueError(f"augment.eval_resize = {resize} must be at least image_size = {self.size}")
        self.device = device
        self.channels_last = channels_last
        self.num_classes = ds.num_classes
        self.in_channels = 3
        train_idx = np.asarray(split["train_indices"], dtype=np.int64)
        if len(split.get("val_indices") or []):
            raise ValueError("list-file datasets take their validation set from the val split file, not from the split")
        paths = {"train": ds.paths["train"][train_idx]}
        self.train_labels = torch.from_numpy(ds.labels["train"][train_idx]).long()
        self._train_y = self.train_labels.to(device)
        self._eval_y: dict[str, Tensor] = {}
        for which in ("test", "val"):
            if which in ds.paths:
                paths[which] = ds.paths[which]
                self._eval_y[which] = torch.from_numpy(ds.labels[which]).long()
        self.eval_sets = {which: len(y) for which, y in self._eval_y.items()}
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
        self.workers = default_workers() if workers is None else int(workers)
        self._plan = TaskPlan()
        self._loader = torch.utils.data.DataLoader(
            ImageReader(ds.root, paths, self.size, resize, float(augment.get("crop_scale_min", 0.08)), bool(augment.get("hflip", True))),
            sampler=self._plan,
            batch_size=None,  # a task is already a chunk of images
            collate_fn=_unwrap,
            num_workers=self.workers,
            pin_memory=device.type == "cuda",
            persistent_workers=self.workers > 0,
            worker_init_fn=seed_worker if self.workers else None,
            prefetch_factor=4 if self.workers else None,
            generator=torch.Generator().manual_seed(0),
        )
        self._train_iter: Iterator[tuple[Tensor, Tensor]] | None = None
        self._train_left: list[int] = []  # chunks per planned batch still to come

    # -- the loader

    def _start(self, tasks: list[tuple[str, list[int], list[int]]]) -> Iterator[tuple[Tensor, Tensor]]:
        """Begin a pass over `tasks` (ends any pass in flight: one pool of workers serves all)."""
        self._train_iter = None
        self._train_left = []
        self._plan.tasks = tasks
        return iter(self._loader)

    @staticmethod
    def _chunks(which: str, positions: Tensor, seeds: Tensor | None, size: int = CHUNK) -> list[tuple[str, list[int], list[int]]]:
        pos = positions.tolist()
        sd = seeds.tolist() if seeds is not None else [-1] * len(pos)
        return [(which, pos[i : i + size], sd[i : i + size]) for i in range(0, len(pos), size)]

    def _to_device(self, parts: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        """Chunks of uint8 (N, H, W, C) -> one normalised float batch; NHWC is channels_last already."""
        x = torch.cat([images.to(self.device, non_blocking=True) for images, _ in parts]).permute(0, 3, 1, 2)
        x = (x.float() - self.mean) / self.std
        positions = torch.cat([p for _, p in parts])
        return (x if self.channels_last else x.contiguous()), positions

    # -- the trainer's interface

    def plan_epoch(self, order: Tensor, batch_size: int, generator: torch.Generator) -> None:
        """The epoch's order, as the trainer will cut it into batches: decoding starts now."""
        order = order.cpu()
        seeds = torch.randint(0, 2**62, (len(order),), generator=generator)
        tasks, left = [], []
        for start in range(0, len(order), batch_size):
            chunks = self._chunks("train", order[start : start + batch_size], seeds[start : start + batch_size])
            tasks.extend(chunks)
            left.append(len(chunks))
        iterator = self._start(tasks)
        self._train_iter, self._train_left = iterator, left

    def train_batch(self, positions: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        positions = positions.cpu()
        if self._train_iter is None or not self._train_left:
            # Not planned: decode this batch alone (its chunks still spread over the workers).
            seeds = torch.randint(0, 2**62, (len(positions),), generator=generator)
            tasks = self._chunks("train", positions, seeds)
            iterator = self._start(tasks)
            self._train_iter, self._train_left = iterator, [len(tasks)]
        n = self._train_left.pop(0)
        x, got = self._to_device([next(self._train_iter) for _ in range(n)])
        if not torch.equal(got, positions):
            raise RuntimeError(
                f"list-file feed: the trainer asked for positions {positions[:8].tolist()}... but the planned "
                f"epoch order has {got[:8].tolist()}... here; plan_epoch must get the order the batches are cut from"
            )
        if not self._train_left:
            self._train_iter = None
        return x, self._train_y[positions.to(self._train_y.device)]

    def eval_labels(self, which: str) -> Tensor:
        return self._eval_y[which]

    def eval_batches(self, which: str, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches of at most `batch_size` images, in list order (resize + centre crop)."""
        y = self._eval_y[which]
        tasks = self._chunks(which, torch.arange(len(y)), None, size=max(1, min(batch_size, CHUNK)))
        iterator = self._start(tasks)
        for _ in tasks:
            x, got = self._to_device([next(iterator)])
            yield x, y[got].to(self.device)


def listfile_feed(path: str, split: dict[str, Any], device: torch.device, recipe: dict[str, Any], channels_last: bool) -> ListFileFeed:
    """The feed for a prepared list-file dataset (registered as format "listfile" in feed.py)."""
    return ListFileFeed(ListFileDataset.load(path), split, device, recipe.get("augment"), channels_last=channels_last)
