"""Feed cost per epoch of the augmentation parts: plan (CPU draws) + every batch (device ops).

    PYTHONPATH=src python benchmarks/augment_bench.py [--device cpu|cuda] [--threads N]

Two shapes of training split, random pixels (the parts' cost does not depend on the content):
digits-LT (rho 50: 621 images, 8 x 8 x 1, batch 64) and CIFAR-10-LT (rho 100: 12,406 images,
32 x 32 x 3, batch 128, BalPoE's batch). For each setting (crop + flip, then each part added,
then all), the seconds of one epoch of the in-memory feed (`plan_epoch` and every `train_batch`,
normalisation included), the median of `--repeats` epochs after one warm-up epoch.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from ltgrid.data.arrays import ArrayDataset
from ltgrid.data.feed import InMemoryFeed

SHAPES = {"digits-LT rho 50": (621, 8, 1, 64, 1), "CIFAR-10-LT rho 100": (12406, 32, 3, 128, 4)}
SETTINGS = {
    "crop + flip": {},
    "+ rotate 15": {"rotate": 15},
    "+ autoaugment cifar10": {"autoaugment": "cifar10"},
    "+ cutout 16 (digits: 4)": {"cutout": 16},
    "+ autoaugment + cutout": {"autoaugment": "cifar10", "cutout": 16},
}


def epoch_seconds(feed: InMemoryFeed, n: int, batch: int, repeats: int, device: torch.device) -> float:
    g = torch.Generator().manual_seed(0)
    times = []
    for r in range(repeats + 1):
        order = torch.randperm(n, generator=g)
        t0 = time.perf_counter()
        feed.plan_epoch(order, batch, g)
        for s in range(0, n, batch):
            feed.train_batch(order[s : s + batch], g)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if r:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    print("| split | setting | s / epoch | ms / batch |\n|---|---|---|---|")
    for name, (n, side, channels, batch, padding) in SHAPES.items():
        y = np.arange(n) % 10
        ds = ArrayDataset(rng.integers(0, 256, (n, side, side, channels), dtype=np.uint8), y,
                          rng.integers(0, 256, (10, side, side, channels), dtype=np.uint8), np.arange(10), tuple("abcdefghij"))
        for label, extra in SETTINGS.items():
            augment = {"crop_padding": padding, "hflip": True, **extra}
            if "cutout" in augment and side < 16:
                augment["cutout"] = 4
            feed = InMemoryFeed(ds, {"train_indices": list(range(n))}, device, augment)
            s = epoch_seconds(feed, n, batch, args.repeats, device)
            print(f"| {name} | {label} | {s:.3f} | {1000 * s / -(-n // batch):.1f} |", flush=True)


if __name__ == "__main__":
    main()
