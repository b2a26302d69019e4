"""Input normalisation: a per-dataset params setting, resolved once into the cell.

`normalize` in a dataset's params is a preset name or explicit `{mean: [...], std: [...]}`
(per channel, on [0, 1] pixels). Presets: `cifar` (the constants of the LDAM-DRW / Prior-LT
CIFAR code), `imagenet` (torchvision's), `split` (the long-tailed training split's own
statistics, computed by the feed). Without the key a dataset takes its source's default:
CIFAR sources `cifar`, list files `imagenet`, everything else `split`.
"""

from __future__ import annotations

from typing import Any

from ltgrid.errors import DataError

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PRESETS: dict[str, dict[str, Any]] = {
    "cifar": {"mean": list(CIFAR_MEAN), "std": list(CIFAR_STD)},
    "imagenet": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
    "split": {"mean": None, "std": None},
}
SOURCE_DEFAULTS = {"cifar10": "cifar", "cifar100": "cifar", "listfile": "imagenet"}


def resolve_normalize(setting: Any, source_kind: str) -> dict[str, Any]:
    """{"name", "mean", "std"} for a dataset's `normalize` setting (mean/std None: the split's own)."""
    if setting is None:
        setting = SOURCE_DEFAULTS.get(source_kind, "split")
    if isinstance(setting, str):
        if setting not in PRESETS:
            raise DataError(f"normalize = {setting!r}: not a preset ({', '.join(PRESETS)}) nor {{mean, std}}")
        return {"name": setting, **PRESETS[setting]}
    if not isinstance(setting, dict) or set(setting) != {"mean", "std"}:
        raise DataError(f"normalize = {setting!r}: give a preset ({', '.join(PRESETS)}) or exactly {{mean, std}}")
    mean, std = setting["mean"], setting["std"]
    lists = all(isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v) for v in (mean, std))
    if not lists or len(mean) != len(std) or min(std) <= 0:
        raise DataError(f"normalize: mean and std must be equal-length lists of numbers, std > 0; got {setting!r}")
    return {"name": "custom", "mean": [float(x) for x in mean], "std": [float(x) for x in std]}
