"""The training step never reads a tensor back to the host (issue 15).

A host read (`.item()`, `.cpu()`, `.tolist()`, `.numpy()`, `bool()` / `int()` / `float()` of
a tensor) makes the CPU wait for the device; inside the step it serialises CPU and GPU
and rules out capturing the step as a CUDA graph. The instrument counts every such call on
any tensor; 20 real steps of the trainer (its own plan, feed, mixing, loss, optimiser and
tallies) of every registered mixing rule, and of every loss, must make none. The epoch's
tallies are then read once, outside the steps.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from ltgrid.data.arrays import ArrayDataset
from ltgrid.data.feed import InMemoryFeed
from ltgrid.methods import LOSSES, MIXINGS, build_method
from ltgrid.models import build_model
from ltgrid.train.loop import EagerSteps, plan_epoch, train_step
from ltgrid.train.optim import build_optimizer
from ltgrid.train.trainer import stage_one

READS = ("item", "cpu", "tolist", "numpy", "__bool__", "__int__", "__float__")
STEPS, BATCH, CLASSES = 20, 8, 5
RECIPE = {"epochs": 2, "batch_size": BATCH, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}}


@contextmanager
def host_reads() -> Iterator[list[str]]:
    """Count host reads of tensors made inside the block; yields the list of where each happened."""
    seen: list[str] = []
    originals = {name: getattr(torch.Tensor, name) for name in READS}

    def counting(name: str):
        original = originals[name]

        def read(self, *args, **kwargs):
            seen.append(f"Tensor.{name} at {traceback.format_stack(limit=3)[0].strip()}")
            return original(self, *args, **kwargs)

        return read

    for name in READS:
        setattr(torch.Tensor, name, counting(name))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def feed() -> InMemoryFeed:
    """A long-tailed set of random 8x8 RGB images (counts 80 down to 16), crop + flip on."""
    rng = np.random.default_rng(0)
    counts = [80, 50, 30, 20, 16]
    y = np.repeat(np.arange(CLASSES), counts)
    ds = ArrayDataset(rng.integers(0, 256, (len(y), 8, 8, 3), dtype=np.uint8), y,
                      rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8), np.arange(20) % CLASSES,
                      tuple(f"c{i}" for i in range(CLASSES)))
    split = {"train_indices": list(range(len(y))), "counts": counts}
    return InMemoryFeed(ds, split, torch.device("cpu"), {"crop_padding": 1, "hflip": True})


def twenty_steps(spec: dict) -> tuple[list[str], tuple]:
    """The host reads of 20 steps of a method, and the epoch's tallies read afterwards."""
    data = feed()
    counts = torch.tensor([80.0, 50.0, 30.0, 20.0, 16.0], dtype=torch.float64)
    method = build_method("m", spec, counts)
    torch.manual_seed(0)
    model = build_model("digits_cnn", CLASSES, 3, normed_classifier=method.needs_normed_classifier)
    stage = stage_one(model, method, RECIPE)
    optimizer = build_optimizer(stage.params, RECIPE["optimizer"])
    generator = torch.Generator().manual_seed(0)
    method.start_epoch(0, RECIPE["epochs"])
    plan = plan_epoch(stage, 0, method, data, generator, BATCH)
    assert plan.num_batches >= STEPS
    steps = EagerSteps(stage, optimizer, method, data.device)
    steps.start_epoch()
    model.train()
    with host_reads() as reads:
        for b in range(STEPS):
            train_step(steps, method, data, plan, b, 0, generator)
    return reads, steps.tally.read()


def test_the_instrument_counts_reads() -> None:
    """It is not vacuous: the per-step checks the trainer used to make are counted."""
    loss = torch.tensor(0.5)
    with host_reads() as reads:
        if not torch.isfinite(loss):
            pass
        loss.item(), loss.cpu(), torch.ones(2).tolist(), loss.numpy(), float(loss), int(torch.tensor(3))
    assert len(reads) == 7 and reads[0].startswith("Tensor.__bool__")
    assert torch.Tensor.item is not None and float(loss) == 0.5  # restored


@pytest.mark.parametrize("rule", MIXINGS.names())
def test_no_host_read_in_twenty_steps_of_every_mixing_rule(rule: str) -> None:
    reads, (loss_sum, correct, first_bad, _) = twenty_steps({"mixing": {"name": rule}, "loss": {"name": "bayias"}})
    assert reads == [], "\n".join(reads[:5])
    assert np.isfinite(loss_sum) and loss_sum > 0 and 0 <= correct <= STEPS * BATCH and first_bad == -1


@pytest.mark.parametrize("loss", LOSSES.names())
def test_no_host_read_in_twenty_steps_of_every_loss(loss: str) -> None:
    reads, (loss_sum, _, first_bad, _) = twenty_steps({"mixing": {"name": "unimix"}, "loss": {"name": loss}})
    assert reads == [], "\n".join(reads[:5])
    assert np.isfinite(loss_sum) and first_bad == -1
