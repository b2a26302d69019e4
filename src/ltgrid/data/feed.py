"""Feeds turn a split into batches on the training device.

`InMemoryFeed` keeps a small dataset on the device as uint8 (N, C, H, W) and augments whole
batches there. The trainer only uses the interface: `num_classes`, `in_channels`,
`train_labels` (CPU LongTensor), `plan_epoch(order, batch_size, generator)` (the epoch's
order as the trainer cuts it; the feed makes the epoch's random draws now, on the CPU),
`train_batch(positions, generator)` (the next planned batch, or an unplanned one) and
`eval_batches(which, batch_size)` with which in {"test", "val"}, `eval_sets` (names present)
and `eval_labels(which)`; optionally `train_eval_batches(batch_size)` (the training split,
unaugmented, for the training accuracy reported beside the test metrics). A prepared dataset
file says its `format`; data/feeds.py picks the feed registered for it, so a dataset too large
for memory (image lists, data/listfile_feed.py) plugs in there.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor

from ltgrid.errors import DataError
from ltgrid.data.arrays import ArrayDataset
from ltgrid.data.device import to_device
from ltgrid.data import autoaugment
from ltgrid.data.augment import (
    crop_at, crop_offsets, cutout_at, cutout_centres, flip_at, flip_draws, normalize, rotate_at, rotation_draws,
)
from ltgrid.data.autoaugment import POLICIES



class EpochDraws:
    """An epoch's order and augmentation draws, on the device; batches are taken in turn.

    `ints` (k, n) and `floats` (m, n) are per-image rows (the order first); each travels in one
    copy. `groups[b]` is batch b's plain-int bookkeeping (AutoAugment's groups), kept on the host."""

    def __init__(self, order: Tensor, batch_size: int, ints: Tensor, floats: Tensor, device: torch.device,
                 groups: list[Any] | None = None) -> None:
        self.order, self.batch_size, self.next, self.groups = order, batch_size, 0, groups
        self.on_device = to_device(torch.cat([order[None], ints]), device)  # one copy: positions + draws
        self.floats = to_device(floats, device)

    def take(self, positions: Tensor) -> tuple[Tensor, Tensor, Any]:
        """Rows [positions, draws...], float rows and bookkeeping of the next batch; `positions`
        must be that batch (CPU)."""
        start = self.next * self.batch_size
        planned = self.order[start : start + self.batch_size]
        if positions.device.type != "cpu" or not torch.equal(positions, planned):
            raise RuntimeError("the trainer asked for a batch other than the next one of the planned epoch; "
                               "plan_epoch must get the order the batches are cut from")
        groups = self.groups[self.next] if self.groups is not None else None
        self.next += 1
        stop = start + len(planned)
        return self.on_device[:, start:stop], self.floats[:, start:stop], groups

    @property
    def done(self) -> bool:
        return self.next * self.batch_size >= len(self.order)


def augment_settings(augment: dict[str, Any]) -> dict[str, Any]:
    """The in-memory feed's augmentation switches, checked: one clear error naming a bad value."""
    policy = augment.get("autoaugment")
    if policy is not None and policy not in POLICIES:
        raise DataError(f"augment.autoaugment = {policy!r}: known policies are {sorted(POLICIES)} (or null: off)")
    for key, default, least in (("crop_padding", 0, 0), ("cutout", 0, 0), ("cutout_holes", 1, 1)):
        value = augment.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise DataError(f"augment.{key} = {value!r}: a whole number, {least} or more")
    rotate = augment.get("rotate", 0)
    if isinstance(rotate, bool) or not isinstance(rotate, (int, float)) or not 0 <= rotate <= 180:
        raise DataError(f"augment.rotate = {rotate!r}: the largest angle in degrees, 0 to 180 (0: off)")
    return {"crop_padding": int(augment.get("crop_padding", 0)), "hflip": bool(augment.get("hflip", False)),
            "rotate": float(rotate), "autoaugment": policy, "cutout": int(augment.get("cutout", 0)),
            "cutout_holes": int(augment.get("cutout_holes", 1))}


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
        settings = augment_settings(augment or {})
        self.device = device
        self.crop_padding, self.hflip, self.rotate = settings["crop_padding"], settings["hflip"], settings["rotate"]
        self.autoaugment, self.cutout, self.cutout_holes = settings["autoaugment"], settings["cutout"], settings["cutout_holes"]
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
                raise DataError(f"normalize {normalize.get('name')!r} has {len(mean)} channels, the images {self.in_channels}")
            return mean, std
        pixels = self.train_x.double() / 255.0
        return pixels.mean(dim=(0, 2, 3)).float(), pixels.std(dim=(0, 2, 3)).clamp_min(1e-3).float()

    def _finish(self, x: Tensor) -> Tensor:
        x = normalize(x, self.mean, self.std)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def plan_epoch(self, order: Tensor, batch_size: int, generator: torch.Generator) -> None:
        """Draw the epoch's augmentation now, on the CPU (crops, flips, rotations, AutoAugment's
        operations and magnitudes, Cutout's centres), and move it with the order to the device."""
        n = len(order)
        _, _, h, w = self.train_x.shape
        ints, floats, groups = [torch.empty(0, n, dtype=torch.int64)], [torch.empty(0, n, dtype=torch.float64)], None
        if self.crop_padding:
            ints.append(crop_offsets(n, self.crop_padding, generator))
        if self.hflip:
            ints.append(flip_draws(n, generator).long()[None])
        if self.rotate:
            floats.append(rotation_draws(n, self.rotate, generator)[None])
        if self.autoaugment:
            ops, values = autoaugment.draw(n, self.autoaugment, generator)
            local, groups = autoaugment.group(ops, batch_size)
            ints.append(local)
            floats.append(values)
        if self.cutout:
            ints.append(cutout_centres(n, h, w, self.cutout_holes, generator))
        self._planned = EpochDraws(order.cpu(), batch_size, torch.cat(ints), torch.cat(floats), self.device, groups)

    def train_batch(self, positions: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """The next batch of the planned epoch (device ops only); unplanned, the batch is drawn now.
        The authors' order (BalPoE's, after DeVries & Taylor): crop, flip, rotation, AutoAugment, then
        Cutout on the uint8 image (zero = black, before normalisation), then normalisation."""
        if self._planned is None:
            self.plan_epoch(positions, len(positions), generator)
        assert self._planned is not None
        rows, floats, groups = self._planned.take(positions)
        if self._planned.done:
            self._planned = None
        pos, rows = rows[0], rows[1:]
        x = self.train_x[pos]
        if self.crop_padding:
            x, rows = crop_at(x, self.crop_padding, rows[:2]), rows[2:]
        if self.hflip:
            x, rows = flip_at(x, rows[0].bool()), rows[1:]
        if self.rotate:
            x, floats = rotate_at(x, floats[0], fill=0), floats[1:]
        if self.autoaugment:
            x, rows, floats = autoaugment.apply(x, rows[:2], floats[:2], groups), rows[2:], floats[2:]
        if self.cutout:
            x = cutout_at(x, self.cutout, rows[: 2 * self.cutout_holes])
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
            raise DataError("split file: val_indices and test_indices share test images; rebuild the split")
        return {"test": (ds.test_x[test_idx], ds.test_y[test_idx]), "val": (ds.test_x[val_idx], ds.test_y[val_idx])}
    sets = {"test": (ds.test_x, ds.test_y)}
    if len(val_idx):
        sets["val"] = (ds.train_x[val_idx], ds.train_y[val_idx])
    return sets
