"""Seconds to draw one epoch of positions with each sampler, on CIFAR-10-LT and CIFAR-100-LT (rho=100) labels.

    PYTHONPATH=src python benchmarks/sampler_bench.py [--repeats 3]

Prints one line per (dataset, sampler, epoch): the best of `repeats` draws. class_cycle is
computed from the visit counts of earlier epochs, so a late epoch should cost what the first does.
"""

from __future__ import annotations

import argparse
import time

import torch

from ltgrid.data.splits import lt_counts
from ltgrid.methods import SAMPLERS

DATASETS = {"cifar10-lt": (10, 5000), "cifar100-lt": (100, 500)}
SAMPLER_NAMES = ("instance", "class_balanced", "class_cycle")


def best_seconds(sampler: object, labels: torch.Tensor, epoch: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        g = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        sampler.epoch_indices(labels, epoch, 200, g)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for name, (num_classes, n_max) in DATASETS.items():
        counts = lt_counts(n_max, num_classes, 100)
        labels = torch.repeat_interleave(torch.arange(num_classes), torch.tensor(counts))
        for sampler_name in SAMPLER_NAMES:
            sampler = SAMPLERS.build(sampler_name, class_counts=torch.tensor(counts, dtype=torch.float64))
            for epoch in (0, 199):
                seconds = best_seconds(sampler, labels, epoch, args.repeats)
                print(f"{name} (N={len(labels)}) {sampler_name:<15} epoch {epoch:>3}: {1000 * seconds:7.1f} ms")


if __name__ == "__main__":
    main()
