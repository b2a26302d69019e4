"""One epoch of training, with no host-device synchronisation inside the step loop.

Every random choice of the epoch is made before its first step, on the CPU, from the
labels the trainer holds there and the cell's seeded CPU generator: the sampler's order,
the feed's crops and flips, the mixing rule's partners and factors. They reach the device
in a few large copies. A step then only queues kernels: gather, augment, mix, forward,
loss, backward, optimiser step, and the tallies (loss sum, correct count, the first
non-finite loss), which stay on the device and are read once, when the epoch ends. So the
CPU runs ahead of the GPU and a whole step can be captured as one CUDA graph (graph.py).

A non-finite loss is therefore found at the end of its epoch, not at its batch: the
epoch's metrics are not written, and the error names the first bad batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch
from torch import Tensor, nn

from ltgrid.data.device import to_device
from ltgrid.errors import UserError
from ltgrid.methods import Method
from ltgrid.methods.base import Draws, MixedBatch
from ltgrid.train import faults
from ltgrid.train.optim import set_lr


class TrainingError(UserError, RuntimeError):
    """A cell cannot go on; the message says which cell, where, and what to change."""


@dataclass
class Stage:
    """One training stage: what is optimised, how batches are drawn and scored, the lr per epoch."""

    name: str
    epochs: int
    lr: Callable[[int], float]
    sampler: Any
    params: list[Any]  # parameters, or optimiser param groups ({"params", "lr_factor"})
    forward: Callable[[Tensor], Tensor]
    mixing: bool
    loss: Callable[[Tensor, MixedBatch], Tensor]
    optimizer: dict[str, Any]
    prepare: Callable[[], None] = lambda: None  # run once when the stage starts (not on resume)
    end_epoch: Callable[[], None] = lambda: None  # run after every training epoch (a projection)
    # the forward's outputs as one (N, C) logit for the training accuracy (a multi-expert model's experts combined)
    joint: Callable[[Tensor], Tensor] = lambda outputs: outputs


@dataclass
class EpochPlan:
    """The epoch's order (CPU) cut into batches, and the mixing draws of every batch (device)."""

    order: Tensor
    batch_size: int
    draws: Draws | None
    dropped: int = 0  # images of the last partial batch left out (static shapes)

    @property
    def num_batches(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def positions(self, b: int) -> Tensor:
        return self.order[b * self.batch_size : (b + 1) * self.batch_size]

    def draws_of(self, b: int) -> Draws | None:
        if self.draws is None:
            return None
        start = b * self.batch_size
        return {k: v[start : start + self.batch_size] for k, v in self.draws.items()}


def gathered_order(rows: Tensor, batch_size: int) -> Tensor:
    """The positions a feed gathers when each sampled image brings k (rows (k, n)): batch b is
    rows[0] of b's slice, then rows[1] of it, and so on (a mixing rule's `streams`)."""
    return torch.cat([rows[:, s : s + batch_size].reshape(-1) for s in range(0, rows.shape[1], batch_size)])


def plan_epoch(stage: Stage, epoch: int, method: Method, feed: Any, generator: torch.Generator,
               batch_size: int, drop_last: bool = False) -> EpochPlan:
    """Draw the epoch on the CPU (order, augmentation, mixing) and move it to the device."""
    order = stage.sampler.epoch_indices(feed.train_labels, epoch, stage.epochs, generator).cpu()
    dropped = len(order) % batch_size if drop_last else 0
    order = order[: len(order) - dropped]  # static shapes: every batch full
    mixing = stage.mixing and method.mixing_active
    rows = method.mixing.streams(order, feed.train_labels, generator) if mixing else None
    if rows is not None:  # k images gathered per sampled one (views, outside partners): one batch of k * batch_size
        order, batch_size = gathered_order(rows, batch_size), len(rows) * batch_size
    feed.plan_epoch(order, batch_size, generator)
    draws = None
    if mixing:
        labels = feed.train_labels[order]
        per_batch = [method.mixing.draw(labels[s : s + batch_size], generator) for s in range(0, len(order), batch_size)]
        if per_batch and per_batch[0] is not None:
            draws = {k: to_device(torch.cat([d[k] for d in per_batch]), feed.device) for k in per_batch[0]}
    return EpochPlan(order, batch_size, draws, dropped)


class Tally:
    """An epoch's loss sum, correct count and first non-finite loss, kept on the device."""

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(2, dtype=torch.float64, device=device)  # sum of loss * n, correct
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        self.bad_value = torch.zeros((), dtype=torch.float64, device=device)
        self.step = torch.zeros((), dtype=torch.int64, device=device)

    def reset(self) -> None:
        """Zero in place (a captured graph holds these very tensors)."""
        self.sums.zero_()
        self.first_bad.fill_(-1)
        self.bad_value.zero_()
        self.step.zero_()

    def add(self, loss: Tensor, logits: Tensor, y: Tensor) -> None:
        loss = loss.detach().double()
        correct = (logits.detach().argmax(1) == y).sum().double()
        self.sums += torch.stack([loss * y.shape[0], correct])
        fresh = ~torch.isfinite(loss) & (self.first_bad < 0)
        self.first_bad.copy_(torch.where(fresh, self.step, self.first_bad))
        self.bad_value.copy_(torch.where(fresh, loss, self.bad_value))
        self.step += 1

    def read(self) -> tuple[float, float, int, float]:
        """(loss sum, correct, first non-finite batch or -1, its loss): the epoch's one host read."""
        loss_sum, correct, first_bad, bad_value = torch.cat(
            [self.sums, self.first_bad.double()[None], self.bad_value[None]]
        ).tolist()
        return loss_sum, correct, int(first_bad), bad_value


def batch_of(method: Method, x: Tensor, y: Tensor, draws: Draws | None) -> MixedBatch:
    """The step's batch, mixed from draws already on the device (or left alone)."""
    return method.mixing.apply(x, y, draws) if draws is not None else MixedBatch.unmixed(x, y)


def compute(stage: Stage, optimizer: torch.optim.Optimizer, batch: MixedBatch, tally: Tally,
            poison: Callable[[Tensor], Tensor] = lambda loss: loss) -> None:
    """Forward, loss, backward, optimiser step and tallies: what a CUDA graph captures."""
    logits = stage.forward(batch.x)
    loss = poison(stage.loss(logits, batch))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    tally.add(loss, stage.joint(logits), batch.y_a)


class Steps(Protocol):
    """Runs an epoch's steps; `tally` is where they count."""

    tally: Tally

    def start_epoch(self) -> None: ...

    def run(self, batch: MixedBatch, epoch: int, b: int) -> None: ...


class EagerSteps:
    """Each step's kernels queued one by one (every device, every option off)."""

    def __init__(self, stage: Stage, optimizer: torch.optim.Optimizer, method: Method, device: torch.device) -> None:
        self.stage, self.optimizer, self.method = stage, optimizer, method
        self.tally = Tally(device)
        self.fault = faults.active()

    def start_epoch(self) -> None:
        self.tally.reset()

    def run(self, batch: MixedBatch, epoch: int, b: int) -> None:
        compute(self.stage, self.optimizer, batch, self.tally,
                lambda loss: faults.inject(self.fault, loss, epoch, b))


def train_step(steps: Steps, method: Method, feed: Any, plan: EpochPlan, b: int, epoch: int,
               generator: torch.Generator) -> int:
    """Batch b of the planned epoch: device work only, nothing read back. Returns the rows it scored."""
    positions = plan.positions(b)
    x, y = feed.train_batch(positions, generator)
    batch = batch_of(method, x, y, plan.draws_of(b))
    steps.run(batch, epoch, b)
    return len(batch.y_a)  # the rows the tally counted (GLMC's: two mixtures of each sampled image)


@dataclass
class EpochContext:
    """What every epoch of one stage runs with, fixed for the stage: its optimiser, the method,
    the feed, the cell's generator and batch, and how steps run (eager or a captured graph)."""

    stage: Stage
    optimizer: torch.optim.Optimizer
    method: Method
    feed: Any
    generator: torch.Generator
    batch_size: int
    label: str  # the cell, for messages
    steps: Steps | None = None  # None: eager steps
    drop_last: bool = False  # static shapes (a captured graph): the last partial batch is left out

    def __post_init__(self) -> None:
        if self.steps is None:
            self.steps = EagerSteps(self.stage, self.optimizer, self.method, self.feed.device)


def train_epoch(ctx: EpochContext, epoch: int) -> dict[str, Any]:
    """One pass over the stage's sampled order; returns the epoch's record (with its seconds)."""
    stage, method, steps = ctx.stage, ctx.method, ctx.steps
    assert steps is not None
    t0 = time.perf_counter()
    lr = stage.lr(epoch)
    set_lr(ctx.optimizer, lr)
    method.start_epoch(epoch, stage.epochs)
    plan = plan_epoch(stage, epoch, method, ctx.feed, ctx.generator, ctx.batch_size, ctx.drop_last)
    if isinstance(stage.forward, nn.Module):
        stage.forward.train()
    steps.start_epoch()
    seen = sum(train_step(steps, method, ctx.feed, plan, b, epoch, ctx.generator) for b in range(plan.num_batches))
    loss_sum, correct, first_bad, bad_value = steps.tally.read()  # the epoch's one host read
    if first_bad >= 0:
        raise TrainingError(
            f"{ctx.label}: non-finite loss {bad_value} at {stage.name} epoch {epoch}, batch {first_bad} (lr {lr:g}); "
            f"found when the epoch's tallies were read (batches 0-{plan.num_batches - 1}); "
            "lower optimizer.lr or check the method's hyperparameters. No metrics were written."
        )
    stage.end_epoch()
    record = {
        "stage": stage.name, "epoch": epoch, "lr": lr,
        "train_loss": loss_sum / max(seen, 1),
        "train_acc": 100.0 * correct / max(seen, 1),
        "seconds": time.perf_counter() - t0,
    }
    if ctx.drop_last:
        record["dropped_images"] = plan.dropped  # an int: kept in the run's history, not logged as a metric
    return record
