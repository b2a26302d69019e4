"""Kang et al.'s class-aware sampler: cycle through the classes, and within each class through its images.

Classes are visited in cycles: each cycle is a fresh random order of the classes present, so
every class is visited once per C visits. Each visit takes `per_visit` consecutive images from
that class's own cycle: a random order of its images, renewed only once all of them have been
drawn, so no image repeats before every image of its class has been seen. Both cycles carry on
across epochs, as the authors' sampler keeps its iterators (Kang et al.'s
data/ClassAwareSampler.py, MiSLAS's datasets/sampler.py: `num_samples_cls` = per_visit, 4 in
every config of theirs). Each epoch starts a fresh visit; a visit the epoch cuts short has still
taken its `per_visit` images (their generator takes them in one `zip`).

How many draws make an epoch (`epoch`, with N the training images and B = `batch`):
- `images`: N, as the project's other samplers;
- `floor_batches`: floor(N / B) * B, Kang et al.'s loop (run_networks.py stops at
  epoch_steps = int(N / B) batches);
- `ceil_batches_plus_one`: (ceil(N / B) + 1) * B, MiSLAS's stage-2 loop (train_stage2.py breaks
  once i > ceil(N / B), so batches 0 .. ceil(N / B) train).
Neither authors' loop runs the sampler's own length, C * n_max.

The streams are pure functions of (the cell's seed, the stream, the cycle number): epoch e's
draws are computed from the counts of earlier epochs, without replaying them, so a resumed run
draws what an uninterrupted one would and no state needs checkpointing.
"""

from __future__ import annotations

import hashlib
import math

import torch
from torch import Tensor

from ltgrid.methods.base import Sampler

CLASS_STREAM = -1  # stream id of the class order (class streams use the class id)


def cycle_epoch_draws(n_images: int, epoch: str, batch: int | None) -> int:
    """Draws per epoch under the `epoch` rule (module docstring)."""
    if epoch == "images":
        return n_images
    if batch is None or batch < 1:
        raise ValueError(f"class_cycle epoch {epoch!r} needs a batch >= 1, got {batch!r}")
    if epoch == "floor_batches":
        draws = (n_images // batch) * batch
        if draws == 0:
            raise ValueError(f"class_cycle epoch 'floor_batches' with batch {batch} and {n_images} training images "
                             f"has no batch (floor({n_images} / {batch}) = 0); use a batch of at most {n_images}")
        return draws
    if epoch == "ceil_batches_plus_one":
        return (math.ceil(n_images / batch) + 1) * batch
    raise ValueError(f"class_cycle epoch {epoch!r} is not one of images, floor_batches, ceil_batches_plus_one")


def cycle_permutation(n: int, base_seed: int, stream: int, cycle: int) -> Tensor:
    """The `cycle`-th random order of n items of one stream, reproducible from (base_seed, stream, cycle)."""
    digest = hashlib.blake2b(f"{base_seed}:{stream}:{cycle}".encode(), digest_size=8).digest()
    g = torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
    return torch.randperm(n, generator=g)


def stream_slice(items: Tensor, base_seed: int, stream: int, start: int, count: int) -> Tensor:
    """Entries [start, start + count) of the endless stream that concatenates cycles of `items`."""
    n = len(items)
    first, last = start // n, (start + count - 1) // n
    cycles = [items[cycle_permutation(n, base_seed, stream, k)] for k in range(first, last + 1)]
    offset = start - first * n
    return torch.cat(cycles)[offset : offset + count]


class ClassCycle(Sampler):
    """Classes visited evenly in shuffled cycles, `per_visit` images per visit from each class's own
    cycle of its images (every image before any repeats; Kang et al. 2020, after Shen et al. 2016);
    `epoch` and `batch` set the draws per epoch (module docstring)."""

    def __init__(self, class_counts: Tensor, per_visit: int, epoch: str, batch: int | None) -> None:
        super().__init__(class_counts)
        self.per_visit, self.epoch, self.batch = per_visit, epoch, batch

    def epoch_indices(self, labels: Tensor, epoch: int, num_epochs: int, generator: torch.Generator) -> Tensor:
        labels_cpu = labels.cpu().long()
        if len(labels_cpu) == 0:
            raise ValueError("cannot sample an epoch from an empty label set")
        base = generator.initial_seed()  # the cell's seed: fixed for the run, restored on resume
        classes = torch.unique(labels_cpu)
        draws = cycle_epoch_draws(len(labels_cpu), self.epoch, self.batch)
        visits = math.ceil(draws / self.per_visit)
        done = epoch * visits  # class visits in the earlier epochs (every epoch has the same number)
        order = stream_slice(classes, base, CLASS_STREAM, done, visits)
        before = self._earlier_visits(classes, base, done)
        out = torch.empty(visits, self.per_visit, dtype=torch.long)
        for i, c in enumerate(classes.tolist()):
            slots = torch.nonzero(order == c).flatten()
            if len(slots) == 0:
                continue
            members = torch.nonzero(labels_cpu == c).flatten()
            drawn = stream_slice(members, base, c, before[i] * self.per_visit, len(slots) * self.per_visit)
            out[slots] = drawn.view(-1, self.per_visit)
        return out.flatten()[:draws].to(labels.device)

    @staticmethod
    def _earlier_visits(classes: Tensor, base: int, done: int) -> list[int]:
        """Visits each class had in the first `done` slots of the class stream: one per full cycle,
        plus one if it is among the first slots of the cycle in progress."""
        full, partial = divmod(done, len(classes))
        counts = [full] * len(classes)
        if partial:
            for i in cycle_permutation(len(classes), base, CLASS_STREAM, full)[:partial].tolist():
                counts[i] += 1
        return counts
