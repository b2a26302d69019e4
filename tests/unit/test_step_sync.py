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
from ltgrid.methods.catalog import LOSS_NEEDS_MIXING
from ltgrid.models import build_model
from ltgrid.train.graph import GraphSteps, drops_last, make_steps
from ltgrid.train.loop import EagerSteps, plan_epoch, train_step
from ltgrid.train.optim import build_optimizer
from ltgrid.params import fill_recipe
from ltgrid.train.stages import stage_one

READS = ("item", "cpu", "tolist", "numpy", "__bool__", "__int__", "__float__")
STEPS, BATCH, CLASSES = 20, 8, 5
RECIPE = fill_recipe({"epochs": 2, "batch_size": BATCH,
                      "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}})


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


# a loss that combines experts trains the multi-expert net (its outputs are (N, K, C)); GLMC's loss its two-classifier,
# projection-head net (and the glmc mixing rule, catalog.LOSS_NEEDS_MIXING); every other the digits CNN
EXPERT_MODELS = {"balpoe": "resnet32_experts", "glmc": "digits_cnn_glmc"}


def setup(spec: dict) -> tuple:
    """(feed, method, model, stage, optimizer, generator) of a seeded 2-epoch digits-CNN cell."""
    data = feed()
    counts = torch.tensor([80.0, 50.0, 30.0, 20.0, 16.0], dtype=torch.float64)
    method = build_method("m", spec, counts)
    torch.manual_seed(0)
    name = EXPERT_MODELS.get((spec.get("loss") or {}).get("name"), "digits_cnn")
    model = build_model(name, CLASSES, 3, normed_classifier=method.needs_normed_classifier)
    stage = stage_one(model, method, RECIPE, [])
    optimizer = build_optimizer(stage.params, stage.optimizer)
    method.start_epoch(0, RECIPE["epochs"])
    model.train()
    return data, method, model, stage, optimizer, torch.Generator().manual_seed(0)


def twenty_steps(spec: dict) -> tuple[list[str], tuple]:
    """The host reads of 20 steps of a method, and the epoch's tallies read afterwards."""
    data, method, model, stage, optimizer, generator = setup(spec)
    plan = plan_epoch(stage, 0, method, data, generator, BATCH)
    assert plan.num_batches >= STEPS
    steps = EagerSteps(stage, optimizer, method, data.device)
    steps.start_epoch()
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
    mixing = LOSS_NEEDS_MIXING.get(loss, "unimix")
    reads, (loss_sum, _, first_bad, _) = twenty_steps({"mixing": {"name": mixing}, "loss": {"name": loss}})
    assert reads == [], "\n".join(reads[:5])
    assert np.isfinite(loss_sum) and first_bad == -1


def run_steps(make_steps, drop_last: bool) -> tuple[torch.nn.Module, tuple, int]:
    data, method, model, stage, optimizer, generator = setup({"mixing": {"name": "unimix"}, "loss": {"name": "bayias"}})
    steps = make_steps(stage, optimizer, method, data.device)
    plan = plan_epoch(stage, 0, method, data, generator, BATCH, drop_last=drop_last)
    steps.start_epoch()
    for b in range(plan.num_batches):
        train_step(steps, method, data, plan, b, 0, generator)
    return model, steps.tally.read(), len(plan.order)


def test_graph_steps_without_capture_train_exactly_like_eager_steps() -> None:
    """The static-buffer path a CUDA graph replays (copied batches, poisoned label weights, the
    same tallies) gives the eager step's parameters and tallies, bit for bit; capture itself is
    CUDA-only and checked by benchmarks/gpu_check.py."""
    eager, eager_tally, n = run_steps(EagerSteps, drop_last=True)
    graph, graph_tally, m = run_steps(lambda *a: GraphSteps(*a, capture=False), drop_last=True)
    assert n == m == 196 // BATCH * BATCH  # 196 images: the last partial batch (4) is dropped
    assert eager_tally == graph_tally
    for (name, p), q in zip(eager.state_dict().items(), graph.state_dict().values()):
        assert torch.equal(p, q), name


def test_graph_steps_refuse_a_partial_batch_and_the_option_is_ignored_on_the_cpu(capsys) -> None:
    with pytest.raises(ValueError, match="every batch of shape"):
        run_steps(lambda *a: GraphSteps(*a, capture=False), drop_last=False)
    data, method, _, stage, optimizer, _ = setup({})
    steps = make_steps(stage, optimizer, method, data.device, {"cuda_graph": True})
    assert isinstance(steps, EagerSteps) and not drops_last(steps)
    assert "cuda_graph ignored on cpu" in capsys.readouterr().err


def test_cuda_graph_with_a_graph_recording_compile_mode_is_a_params_error() -> None:
    """Checked when params load, before any job, not when the steps are made."""
    from ltgrid.params.loading import recipe_problems

    rec = fill_recipe({**RECIPE, "cuda_graph": True, "compile": True, "compile_mode": "reduce-overhead"})
    assert recipe_problems(rec, "recipes.r") == ["recipes.r: cuda_graph and compile_mode 'reduce-overhead' both record "
                                                 "CUDA graphs; turn one of them off"]
