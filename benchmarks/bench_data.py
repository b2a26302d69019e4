"""What every benchmark trains on: CIFAR-10-LT (rho=100) from the shared image archive, and the paper's recipe.

The archive is decoded once (about 15-30 s) and cached as a dataset.npz under
results/bench/ (LTGRID_BENCH_CACHE overrides), so benchmark workers and the full-cell run
load it in a second. Without the archive, random uint8 images with the same long-tailed
label profile stand in (the timings are the same; accuracies are meaningless).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ltgrid.params import fill_recipe
from ltgrid.data.arrays import ArrayDataset, load_arrays, save_arrays
from ltgrid.data.splits import lt_counts, make_split

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = Path(os.environ.get("LTGRID_CIFAR10_IMAGES", "/work/shared/data/cifar10-images.tar.gz"))
ARCHIVE_SHA256 = "0f012e94b28dbfe679e82636dd7c4aec3cb90516a5f7421d559c0c3691b61ffb"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
RHO, N_MAX = 100, 5000


def cache_dir() -> Path:
    return Path(os.environ.get("LTGRID_BENCH_CACHE") or ROOT / "results" / "bench")


def paper_recipe(epochs: int = 200, **overrides: Any) -> dict[str, Any]:
    """The paper's CIFAR recipe (docs/paper.md): ResNet-32, batch 64, SGD, warm-up, steps at 160/180."""
    recipe: dict[str, Any] = {
        "epochs": epochs,
        "batch_size": 64,
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4},
        "lr_schedule": {
            "warmup_epochs": min(5, epochs),
            "steps": [{"epoch": round(epochs * 0.8), "factor": 0.01}, {"epoch": round(epochs * 0.9), "factor": 1e-4}],
        },
        "augment": {"crop_padding": 4, "hflip": True},
        "eval_every": 1,
        "deterministic": False,
    }
    recipe.update(overrides)
    return fill_recipe(recipe)


def method_spec(name: str = "unimix_bayias") -> dict[str, Any]:
    """A method's entry from params/methods.yaml, as the trainer receives it."""
    library = yaml.safe_load((ROOT / "params" / "methods.yaml").read_text())["method_library"]
    return {k: v for k, v in library[name].items() if k != "description"}


def random_dataset(seed: int = 0) -> ArrayDataset:
    """Random images with CIFAR-10's shapes: 5,000 train and 1,000 test per class."""
    rng = np.random.default_rng(seed)
    train_y = np.repeat(np.arange(10), 5000)
    test_y = np.repeat(np.arange(10), 1000)
    return ArrayDataset(
        train_x=rng.integers(0, 256, (len(train_y), 32, 32, 3), dtype=np.uint8),
        train_y=train_y,
        test_x=rng.integers(0, 256, (len(test_y), 32, 32, 3), dtype=np.uint8),
        test_y=test_y,
        classes=CLASSES,
    )


def cifar10_npz() -> tuple[Path, str]:
    """The cached dataset.npz and what it holds ("cifar10-images" or "random")."""
    if ARCHIVE.exists():
        path = cache_dir() / "cifar10-images.npz"
        if not path.exists():
            from ltgrid.data.imagefolder import image_folder_archive_source

            path.parent.mkdir(parents=True, exist_ok=True)
            ds = image_folder_archive_source(path.parent / "download", ARCHIVE, CLASSES, sha256=ARCHIVE_SHA256)
            save_arrays(path, ds)
        return path, "cifar10-images"
    path = cache_dir() / "random-cifar10-shaped.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        save_arrays(path, random_dataset())
    return path, "random"


def lt_split(train_y: np.ndarray, images: int | None = None, seed: int = 0) -> dict[str, Any]:
    """The CIFAR-10-LT rho=100 split (12,406 images); `images` keeps a seeded subset of it.

    The subset's counts are recounted, so the prior-aware parts see the classes it really has.
    """
    split = make_split(train_y, RHO, 0, n_max=N_MAX)
    assert split["counts"] == lt_counts(N_MAX, 10, RHO)
    idx = np.asarray(split["train_indices"], dtype=np.int64)
    if images is not None and images < len(idx):
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(idx, size=images, replace=False))
        counts = np.bincount(train_y[idx], minlength=10)
        if (counts == 0).any():
            raise ValueError(f"--images {images} leaves a class empty; use at least a few hundred images")
        split = {**split, "counts": counts.tolist(), "train_indices": idx.tolist()}
    return split


def eval_subset(ds: ArrayDataset, images: int) -> ArrayDataset:
    """Every (10000 / images)-th test image: a balanced subset for short runs."""
    if images >= len(ds.test_y):
        return ds
    keep = np.linspace(0, len(ds.test_y) - 1, images).round().astype(np.int64)
    return ArrayDataset(ds.train_x, ds.train_y, ds.test_x[keep], ds.test_y[keep], ds.classes)


def load(images: int | None, test_images: int) -> tuple[ArrayDataset, dict[str, Any], str]:
    """(dataset, split, what) for a benchmark run."""
    path, what = cifar10_npz()
    ds = eval_subset(load_arrays(path), test_images)
    return ds, lt_split(ds.train_y, images), what
