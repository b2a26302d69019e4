"""What a cell writes each epoch to be resumable: bytes and seconds, through the real trainer.

    python benchmarks/checkpoint_bench.py [--case cifar100|inat|both] [--epochs 3] [--json PATH]

Runs `train_cell` for a few epochs on random images shaped like the case and records every
atomic write the trainer makes during its epochs (`ltgrid.io.atomic_path`: the checkpoint,
and any other per-epoch file), leaving out the outputs of the finished cell. The sizes that
matter are the real ones: the model, its SGD momentum, and the evaluation set's logits.

- cifar100: ResNet-32, 100 classes, 10,000 test images (CIFAR-100-LT); 32x32 images.
- inat: ResNet-50 with a head of 8,142 classes and 24,426 test images (iNaturalist 2018's
  validation set); 8x8 images, so the CPU spends its time writing, not convolving (the
  sizes of weights and logits do not depend on the image size).

Prints one row per epoch: files written, MB, write seconds, whether the best epoch changed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

CASES = {
    "cifar100": {"model": "resnet32", "classes": 100, "train_per_class": 5, "test": 10_000, "size": 32},
    "inat": {"model": "resnet50", "classes": 8142, "train_per_class": 1, "test": 24_426, "size": 8},
}
FINAL = ("predictions.npz", "model.pt", "run.json")


def record_writes() -> list[dict[str, Any]]:
    """Wrap ltgrid.io.atomic_path (before the trainer imports it): each write's name, bytes, seconds."""
    import ltgrid.io as io

    writes: list[dict[str, Any]] = []
    original = io.atomic_path

    @contextlib.contextmanager
    def timed(path: Any, *args: Any, **kwargs: Any) -> Iterator[Path]:
        t0 = time.perf_counter()
        with original(path, *args, **kwargs) as tmp:
            yield tmp
        writes.append({"name": Path(path).name, "bytes": Path(path).stat().st_size, "s": time.perf_counter() - t0})

    io.atomic_path = timed
    return writes


def dataset(case: dict[str, Any], work: Path) -> tuple[Path, Path]:
    from ltgrid.data.arrays import ArrayDataset, save_arrays
    from ltgrid.data.splits import labels_digest, write_split

    rng = np.random.default_rng(0)
    k, s = case["classes"], case["size"]
    train_y = np.repeat(np.arange(k), case["train_per_class"])
    test_y = np.arange(case["test"]) % k
    ds = ArrayDataset(rng.integers(0, 256, (len(train_y), s, s, 3), dtype=np.uint8), train_y,
                      rng.integers(0, 256, (len(test_y), s, s, 3), dtype=np.uint8), test_y,
                      tuple(f"c{i}" for i in range(k)))
    save_arrays(work / "dataset.npz", ds)
    split = {"train_indices": list(range(len(train_y))), "val_indices": [], "counts": [case["train_per_class"]] * k}
    write_split(work / "split.json", split, "bench", labels_digest(work / "dataset.npz"))
    return work / "dataset.npz", work / "split.json"


def cell(case: dict[str, Any], epochs: int) -> dict[str, Any]:
    """The resolved cell (ltgrid.cell_spec.CellSpec's fields), its recipe filled as params fill one."""
    from ltgrid.methods.spec import filled_spec
    from ltgrid.params import fill_recipe

    recipe = fill_recipe({
        "epochs": epochs, "batch_size": 128, "eval_every": 1, "deterministic": False,
        "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4},
        "lr_schedule": {}, "augment": {"crop_padding": 0, "hflip": True},
    })
    return {"grid": "ckpt-bench", "dataset": "bench", "rho": 1.0, "split_seed": 0, "method": "ce", "seed": 0,
            "model": case["model"], "recipe_name": "bench", "recipe": recipe, "method_spec": filled_spec("ce", {}),
            "shots": {"many": 100, "few": 20}, "val_per_class": 0, "test_holdout_per_class": 0, "normalize": None,
            "data_key": "bench"}


def run_case(name: str, epochs: int, work: Path) -> dict[str, Any]:
    writes = record_writes()
    import torch

    from ltgrid.tracking.store import ensure_experiment
    from ltgrid.train.trainer import train_cell

    case = CASES[name]
    data, split = dataset(case, work)
    writes.clear()  # the inputs are not the cell's writes
    uri = f"sqlite:///{work / 'mlflow.db'}"
    tracking = {"uri": uri, "experiment_id": ensure_experiment(uri, "ckpt-bench", root=work)}
    record = train_cell(cell(case, epochs), data, split, work / "cell", tracking, threads=torch.get_num_threads())
    epoch_rows, pending = [], []
    for w in writes:
        if w["name"] in FINAL:
            continue
        pending.append(w)
        if w["name"] == "checkpoint.pt":  # the last write of an epoch
            epoch_rows.append({"files": [p["name"] for p in pending], "bytes": sum(p["bytes"] for p in pending),
                               "s": sum(p["s"] for p in pending), "writes": pending})
            pending = []
    best = [h.get("test_acc") for h in record["history"]]
    running = -1.0
    for row, acc in zip(epoch_rows, best):
        row["best_changed"] = acc is not None and acc > running
        running = max(running, acc or -1.0)
    return {"case": name, **case, "epochs": epoch_rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", choices=[*CASES, "both"], default="both")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    names = list(CASES) if args.case == "both" else [args.case]
    results = []
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run_case(name, args.epochs, Path(tmp)))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average {load:.2f} at the end")
    print(f"{'case':<10} {'epoch':>5} {'best changed':>12} {'MB written':>10} {'write s':>8}  files")
    for r in results:
        for e, row in enumerate(r["epochs"]):
            print(f"{r['case']:<10} {e:>5} {str(row['best_changed']):>12} {row['bytes'] / 1e6:>10.1f} {row['s']:>8.2f}  "
                  f"{', '.join(row['files'])}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
