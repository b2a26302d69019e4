"""One CIFAR-10-LT rho=100 UniMix+Bayias ResNet-32 cell through the real trainer (`train_cell`).

    python benchmarks/full_cell.py [--epochs 200] [--images N] [--test-images 10000] [--work DIR] [--json PATH]

Data from the shared CIFAR-10 image archive (bench_data), the paper's recipe, a throwaway
MLflow SQLite store in the work folder; then `evaluate_cell` computes the metrics the
pipeline reports. On CUDA the recipe adds bf16 autocast, channels_last and whole-step CUDA
graph capture (`--no-graph` / `--no-amp` drop them). Prints one JSON line:
wall seconds, training seconds, final top-1 error and ECE.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ltgrid.io import write_json
from ltgrid.methods.spec import filled_spec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def build_cell(epochs: int, cuda: bool, amp: bool, graph: bool, eval_every: int) -> dict[str, Any]:
    """The resolved cell, in the shape `ltgrid.params.resolve_cell` produces."""
    import bench_data

    extra: dict[str, Any] = {"channels_last": cuda, "eval_every": eval_every}
    if cuda and amp:
        extra["amp_bf16"] = True
    if cuda and graph:
        extra["cuda_graph"] = True
    return {
        "grid": "gpu-check", "dataset": "cifar10", "rho": 100.0, "split_seed": 0, "method": "unimix_bayias",
        "seed": 0, "model": "resnet32", "recipe_name": "paper", "recipe": bench_data.paper_recipe(epochs, **extra),
        "method_spec": filled_spec("unimix_bayias", bench_data.method_spec("unimix_bayias")), "shots": {"many": 100, "few": 20}, "val_per_class": 0,
        "test_holdout_per_class": 0, "normalize": None, "data_key": "bench",
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    import bench_data
    from ltgrid.data.arrays import save_arrays
    from ltgrid.data.splits import labels_digest, write_split
    from ltgrid.evaluate.cell import evaluate_cell
    from ltgrid.tracking.store import local_store
    from ltgrid.train.trainer import train_cell

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ds, split, what = bench_data.load(args.images, args.test_images)
    save_arrays(work / "dataset.npz", ds)
    write_split(work / "split.json", split, "cifar10", labels_digest(work / "dataset.npz"))
    tracking = local_store(work, "gpu-check")
    cuda = torch.cuda.is_available()
    cell = build_cell(args.epochs, cuda, not args.no_amp, not args.no_graph, args.eval_every)
    t0 = time.perf_counter()
    record = train_cell(cell, work / "dataset.npz", work / "split.json", work / "cell", tracking)
    wall = time.perf_counter() - t0
    final = evaluate_cell(work / "cell")["protocols"]["final"]
    return {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu", "data": what, "epochs": args.epochs,
        "train_images": len(split["train_indices"]), "test_images": len(ds.test_y), "wall_s": wall,
        "train_s": record["train_seconds"], "top1_err": final["top1_err"], "ece": final["ece"],
        "recipe": {k: cell["recipe"].get(k) for k in ("amp_bf16", "cuda_graph", "channels_last", "eval_every")},
        "dropped_images_per_epoch": record["history"][0].get("dropped_images", 0),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--images", type=int, default=None, help="seeded subset of the 12,406 training images")
    p.add_argument("--test-images", type=int, default=10000)
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--work", default=None, help="folder for data, split, MLflow store and the cell (default: temporary)")
    p.add_argument("--no-graph", action="store_true", help="no whole-step CUDA graph capture")
    p.add_argument("--no-amp", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        args.work = args.work or tmp
        result = run(args)
    print(json.dumps(result))
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
