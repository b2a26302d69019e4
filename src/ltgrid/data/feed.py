"""Feeds turn a split into batches on the training device.

`InMemoryFeed` keeps a small dataset on the device as uint8 (N, C, H, W) and augments whole
batches there. The trainer only uses the interface: `num_classes`, `in_channels`,
`train_labels` (CPU LongTensor), `plan_epoch(order, batch_size, generator)` (the epoch's
order as the trainer cuts it; the feed makes the epoch's random draws now, on the CPU),
`train_batch(positions, generator)` (the next planned batch, or an unplanned one) and
`eval_batches(which, batch_size)` with which in {"test", "val"}, `eval_sets` (names present)
and `eval_labels(which)`; optionally `train_eval_batches(batch_size)` (the training split,
unaugmented, for the training accuracy reported beside the test metrics). A prepared dataset file says its `format`; `build_feed` picks the
feed registered for it, so a dataset too large for memory (image lists) plugs in here.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor

from ltgrid.errors import ParamsError
from ltgrid.io import open_npz
from ltgrid.data.arrays import ArrayDataset, load_arrays
from ltgrid.data.augment import crop_at, crop_offsets, flip_at, flip_draws, normalize
from ltgrid.registry import Registry

FEEDS: Registry[Any] = Registry("dataset format")


def to_device(t: Tensor, device: torch.device) -> Tensor:
    """A CPU tensor on `device` without making the host wait: pinned and asynchronous on CUDA."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class EpochDraws:
    """An epoch's order and augmentation draws, on the device; batches are taken in turn."""

    def __init__(self, order: Tensor, batch_size: int, draws: Tensor, device: torch.device) -> None:
        self.order, self.batch_size, self.next = order, batch_size, 0
        self.on_device = to_device(torch.cat([order[None], draws]), device)  # one copy: positions + draws

    def take(self, positions: Tensor) -> Tensor:
        """Rows [positions, draws...] of the next batch; `positions` must be that batch (CPU)."""
        start = self.next * self.batch_size
        planned = self.order[start : start + self.batch_size]
        if positions.device.type != "cpu" or not torch.equal(positions, planned):
            raise RuntimeError("the trainer asked for a batch other than the next one of the planned epoch; "
                               "plan_epoch must get the order the batches are cut from")
        self.next += 1
        return self.on_device[:, start : start + len(planned)]

    @property
    def done(self) -> bool:
        return self.next * self.batch_size >= len(self.order)


class InMemoryFeed:
    def __init__(
        self,
        ds: ArrayDataset,
        split: dict[str, Any],
        device: torch.device,
        augment: dict[str, Any] | None = None,
        channels_last: bool = False,
        normalize: dict[str, Any] | None = None,
    ) -> None:
        augment = augment or {}
        self.device = device
        self.crop_padding = int(augment.get("crop_padding", 0))
        self.hflip = bool(augment.get("hflip", False))
        self.channels_last = channels_last
        self.num_classes = ds.num_classes
        self.in_channels = ds.image_shape[2]
        self._planned: EpochDraws | None = None
        train_idx = np.asarray(split["train_indices"], dtype=np.int64)
        to_dev = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).to(device)  # noqa: E731
        self.train_x = to_dev(ds.train_x[train_idx])
        self.train_labels = torch.from_numpy(ds.train_y[train_idx]).long()
        self._train_y = self.train_labels.to(device)
        self.mean, self.std = self._statistics(normalize)
        self.eval_sets = {
            which: (to_dev(x), torch.from_numpy(y).long()) for which, (x, y) in eval_arrays(ds, split).items()
        }

    def _statistics(self, normalize: dict[str, Any] | None) -> tuple[Tensor, Tensor]:
        """Per-channel mean and std: the params' constants, else the training split's own."""
        if normalize and normalize.get("mean") is not None:
            mean, std = (torch.tensor(normalize[k], dtype=torch.float32, device=self.device) for k in ("mean", "std"))
            if len(mean) != self.in_channels:
                raise ParamsError(f"normalize {normalize.get('name')!r} has {len(mean)} channels, the images {self.in_channels}")
            return mean, std
        pixels = self.train_x.double() / 255.0
        return pixels.mean(dim=(0, 2, 3)).float(), pixels.std(dim=(0, 2, 3)).clamp_min(1e-3).float()

    def _finish(self, x: Tensor) -> Tensor:
        x = normalize(x, self.mean, self.std)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def plan_epoch(self, order: Tensor, batch_size: int, generator: torch.Generator) -> None:
        """Draw the epoch's crops and flips now and move them with the order to the device in one copy."""
        n = len(order)
        draws = [torch.empty(0, n, dtype=torch.int64)]
        if self.crop_padding:
            draws.append(crop_offsets(n, self.crop_padding, generator))
        if self.hflip:
            draws.append(flip_draws(n, generator).long()[None])
        self._planned = EpochDraws(order.cpu(), batch_size, torch.cat(draws), self.device)

    def train_batch(self, positions: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """The next batch of the planned epoch (device ops only); unplanned, the batch is drawn now."""
        if self._planned is None:
            self.plan_epoch(positions, len(positions), generator)
        assert self._planned is not None
        rows = self._planned.take(positions)
        if self._planned.done:
            self._planned = None
        pos = rows[0]
        x = self.train_x[pos]
        if self.crop_padding:
            x = crop_at(x, self.crop_padding, rows[1:3])
        if self.hflip:
            x = flip_at(x, rows[-1].bool())
        return self._finish(x), self._train_y[pos]

    def eval_labels(self, which: str) -> Tensor:
        return self.eval_sets[which][1]

    def train_eval_batches(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """The training split as evaluated (no augmentation), labels on the device: how well it is fitted."""
        for start in range(0, len(self._train_y), batch_size):
            yield self._finish(self.train_x[start : start + batch_size]), self._train_y[start : start + batch_size]

    def eval_batches(self, which: str, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        x, y = self.eval_sets[which]
        for start in range(0, len(y), batch_size):
            yield self._finish(x[start : start + batch_size]), y[start : start + batch_size]


def eval_arrays(ds: ArrayDataset, split: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The evaluation sets as (images, labels): `test` (the reported one) and, when the split has
    one, `val` — taken from the training images the LT split left out, or, with
    `val_source: test`, a held-out slice of the test set, the test set then being the rest."""
    val_idx = np.asarray(split.get("val_indices") or [], dtype=np.int64)
    if split.get("val_source", "train") == "test":
        test_idx = np.asarray(split["test_indices"], dtype=np.int64)
        if np.intersect1d(test_idx, val_idx).size:
            raise ParamsError("split file: val_indices and test_indices share test images; rebuild the split")
        return {"test": (ds.test_x[test_idx], ds.test_y[test_idx]), "val": (ds.test_x[val_idx], ds.test_y[val_idx])}
    sets = {"test": (ds.test_x, ds.test_y)}
    if len(val_idx):
        sets["val"] = (ds.train_x[val_idx], ds.train_y[val_idx])
    return sets


@FEEDS.register("arrays")
def _arrays_feed(
    path: str, split: dict[str, Any], device: torch.device, recipe: dict[str, Any], channels_last: bool,
    normalize: dict[str, Any] | None = None,
) -> InMemoryFeed:
    return InMemoryFeed(load_arrays(path), split, device, recipe.get("augment"), channels_last, normalize)


@FEEDS.register("listfile")
def _listfile_feed(
    path: str, split: dict[str, Any], device: torch.device, recipe: dict[str, Any], channels_last: bool,
    normalize: dict[str, Any] | None = None,
) -> Any:
    from ltgrid.data.listfile_feed import listfile_feed  # imported here: listfile_feed.py builds on this module

    return listfile_feed(path, split, device, recipe, channels_last, normalize)


def dataset_format(path: str) -> str:
    """The `format` a prepared dataset file declares (`prepare` always writes it)."""
    with open_npz(path) as z:
        if "format" not in z.files:
            raise ParamsError(f"{path} declares no format: not a dataset.npz that `python -m ltgrid prepare` wrote")
        return str(z["format"])


def build_feed(
    path: str, split: dict[str, Any], device: torch.device, recipe: dict[str, Any], channels_last: bool,
    normalize: dict[str, Any] | None = None,
) -> Any:
    """The feed for a prepared dataset; `normalize` is the cell's resolved setting (None: the feed's default)."""
    return FEEDS.build(
        dataset_format(path), path=path, split=split, device=device, recipe=recipe, channels_last=channels_last,
        normalize=normalize,
    )
