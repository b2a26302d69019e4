"""The feed of a prepared dataset, chosen by the `format` its dataset.npz declares: images held
in memory on the device (`arrays`: CIFAR, digits, image-folder archives) or decoded per image
from list files (`listfile`: ImageNet-LT, iNaturalist)."""

from __future__ import annotations

from typing import Any

import torch

from ltgrid.data.arrays import load_arrays
from ltgrid.data.feed import InMemoryFeed
from ltgrid.data.listfile_feed import listfile_feed
from ltgrid.errors import DataError
from ltgrid.io import open_npz
from ltgrid.registry import Registry

FEEDS: Registry[Any] = Registry("dataset format")


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
    return listfile_feed(path, split, device, recipe, channels_last, normalize)


def dataset_format(path: str) -> str:
    """The `format` a prepared dataset file declares (`prepare` always writes it)."""
    with open_npz(path) as z:
        if "format" not in z.files:
            raise DataError(f"{path} declares no format: not a dataset.npz that `python -m ltgrid prepare` wrote")
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
