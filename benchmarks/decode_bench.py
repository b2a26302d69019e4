"""Images/s the list-file feed decodes: ImageNet-sized JPEGs through ListFileFeed's workers.

No ImageNet here, so it writes stand-in JPEGs of ImageNet's typical size (500x375, quality
90, smooth content plus grain: about 60-110 kB each, like ILSVRC files) into a temporary
image root with a list file, prepares them like any list-file dataset and times:

- train: a planned epoch of random-resized crops to --size + flips (what training pays),
- eval: shorter side --size*256/224, central --size crop (what every evaluation pays),
- decode: full-size PIL decode alone, one process (the reference without crops or `draft`),

for each worker count given. Run: `python benchmarks/decode_bench.py --workers 0 1 2`.
The figures go in docs/imagenet.md with the machine and its load at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ltgrid.data import prepare_dataset, train_labels
from ltgrid.data.listfile import ListFileDataset
from ltgrid.data.listfile_feed import ListFileFeed
from ltgrid.data.splits import make_split
from ltgrid.io import write_json


def write_images(root: Path, count: int, classes: int, seed: int = 0) -> Path:
    """Stand-in JPEGs under root/train/c<k>/ and a list file listing them; returns the list."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:375, 0:500].astype(np.float32)
    lines = []
    for i in range(count):
        label = i % classes
        fx, fy, phase = rng.uniform(0.005, 0.05, 2).tolist() + [rng.uniform(0, 6.3)]
        base = 127 + 100 * np.sin(fx * xx + phase)[..., None] * np.cos(fy * yy)[..., None] * rng.uniform(0.3, 1, 3)
        rgb = np.clip(base + rng.normal(0, 12, (375, 500, 3)), 0, 255).astype(np.uint8)
        rel = f"train/c{label}/{i:06d}.JPEG"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(root / rel, quality=90)
        lines.append(f"{rel} {label}\n")
    listing = root / "list.txt"
    listing.write_text("".join(lines))
    return listing


def time_train(feed: ListFileFeed, batch_size: int) -> float:
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(feed.train_labels), generator=g)
    t0 = time.perf_counter()
    feed.plan_epoch(order, batch_size, g)
    for start in range(0, len(order), batch_size):
        feed.train_batch(order[start : start + batch_size], g)
    return len(order) / (time.perf_counter() - t0)


def time_eval(feed: ListFileFeed, batch_size: int) -> float:
    t0 = time.perf_counter()
    n = sum(len(y) for _, y in feed.eval_batches("test", batch_size))
    return n / (time.perf_counter() - t0)


def time_plain_decode(root: Path, paths: list[str]) -> float:
    from PIL import Image

    t0 = time.perf_counter()
    for rel in paths:
        with Image.open(root / rel) as img:
            img.convert("RGB").load()
    return len(paths) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="decode_bench.") as tmp:
        root = Path(tmp) / "images"
        listing = write_images(root, args.images, classes=8)
        kb = np.mean([p.stat().st_size for p in root.rglob("*.JPEG")]) / 1024
        spec = {"path": str(listing)}
        out = Path(tmp) / "dataset.npz"
        prepare_dataset({"kind": "listfile", "root": str(root), "train": spec, "test": spec}, out)
        ds = ListFileDataset.load(out)
        labels, num_classes = train_labels(out)
        counts = np.bincount(labels)
        split = make_split(labels, counts.max() / counts.min(), 0, mode="given", num_classes=num_classes)
        augment = {"image_size": args.size, "hflip": True}
        paths = [p.decode() for p in ds.paths["train"][:128]]
        results = {
            "machine": f"{platform.node()}: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
                       f"{platform.processor() or platform.machine()}",
            "load_average_1min": os.getloadavg()[0],
            "images": args.images, "mean_jpeg_kb": round(float(kb), 1), "size": args.size,
            "plain_decode_per_s": round(time_plain_decode(root, paths), 1),
            "by_workers": {},
        }
        for workers in args.workers:
            feed = ListFileFeed(ds, split, torch.device("cpu"), augment, workers=workers)
            time_train(feed, args.batch_size)  # warm-up: starts the persistent workers, fills caches
            results["by_workers"][workers] = {
                "train_per_s": round(time_train(feed, args.batch_size), 1),
                "eval_per_s": round(time_eval(feed, args.batch_size), 1),
            }
            del feed
        results["load_average_1min_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
