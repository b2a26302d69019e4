"""The list-file feed: decodes a list-file dataset's images in DataLoader worker processes.

The trainer asks for `train_batch(positions)` slice by slice of an epoch order it drew;
`plan_epoch(order, ...)` hands the feed that order first, so the workers decode ahead, in order,
while the device trains. Every image gets its own seed, drawn in the main process from the
trainer's generator, so crops and flips do not depend on how many workers decode them. Each
batch comes back with the positions it holds and is checked against the ones asked for.
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor

from ltgrid.data.device import to_device
from ltgrid.data.listfile import ListFileDataset
from ltgrid.data.normalization import IMAGENET_MEAN, IMAGENET_STD
from ltgrid.data.sources import SourceError
from ltgrid.errors import DataError, SettingError

CHUNK = 64  # images per worker task: a batch of 512 is decoded by 8 workers at once
WORKERS_ENV = "LTGRID_LOADER_WORKERS"


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
            raise SettingError(f"{WORKERS_ENV}={env!r}: expected a number of worker processes (0 = decode in-process)")
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
        normalize: dict[str, Any] | None = None,
    ) -> None:
        augment = dict(augment or {})  # checked when params load (params/method_checks.py)
        if not Path(ds.root).is_dir():
            raise SourceError(f"image root {ds.root} (from the prepared dataset) is not there on this machine")
        self.size = int(augment.get("image_size", 224))
        resize = int(augment.get("eval_resize", round(self.size * 256 / 224)))
        self.device = device
        self.channels_last = channels_last
        self.num_classes = ds.num_classes
        self.in_channels = 3
        train_idx = np.asarray(split["train_indices"], dtype=np.int64)
        if len(split.get("val_indices") or []):
            raise DataError("list-file datasets take their validation set from the val split file, not from the split")
        normalize = normalize or {"name": "imagenet", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
        if normalize.get("mean") is None:
            raise DataError("normalize 'split' needs the training pixels in memory; list-file datasets take constants")
        paths = {"train": ds.paths["train"][train_idx]}
        self.train_labels = torch.from_numpy(ds.labels["train"][train_idx]).long()
        self._train_y = self.train_labels.to(device)
        self._eval_y: dict[str, Tensor] = {}
        for which in ("test", "val"):
            if which in ds.paths:
                paths[which] = ds.paths[which]
                self._eval_y[which] = torch.from_numpy(ds.labels[which]).long()
        self.eval_sets = {which: len(y) for which, y in self._eval_y.items()}
        self.mean = torch.tensor(normalize["mean"], device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(normalize["std"], device=device).view(1, 3, 1, 1) * 255
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
        return x, self._train_y[to_device(positions, self._train_y.device)]

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


def listfile_feed(
    path: str, split: dict[str, Any], device: torch.device, recipe: dict[str, Any], channels_last: bool,
    normalize: dict[str, Any] | None = None,
) -> ListFileFeed:
    """The feed for a prepared list-file dataset (registered as format "listfile" in feed.py)."""
    return ListFileFeed(
        ListFileDataset.load(path), split, device, recipe.get("augment"), channels_last=channels_last, normalize=normalize
    )
