"""This project's path, timed: InMemoryFeed (uint8 on the device, batched augmentation), the
vectorised method, and the trainer's own `train_epoch` / `predict` through `FastForward`."""

from __future__ import annotations

import time
from typing import Any

import torch

from ltgrid.train.accel import channels_last, fast_forward
from ltgrid.data.arrays import ArrayDataset
from ltgrid.data.feed import InMemoryFeed
from ltgrid.methods import build_method
from ltgrid.methods.base import MixedBatch
from ltgrid.models import build_model
from ltgrid.train.optim import build_optimizer, set_lr
from ltgrid.train.graph import drops_last, make_steps
from ltgrid.train.loop import EpochPlan, Tally, batch_of, plan_epoch
from ltgrid.params import fill_recipe
from ltgrid.train.loop import EpochContext, train_epoch
from ltgrid.train.predict import eval_batch, predict
from ltgrid.train.stages import stage_one


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Project:
    """Build once, then `train_epoch()` / `evaluate()`; both return wall seconds."""

    def __init__(self, ds: ArrayDataset, split: dict[str, Any], recipe: dict[str, Any], spec: dict[str, Any],
                 device: torch.device, seed: int = 0) -> None:
        recipe = fill_recipe(recipe)
        nhwc = channels_last(recipe, device)
        self.device, self.recipe = device, recipe
        self.batch_size = recipe["batch_size"]
        self.feed = InMemoryFeed(ds, split, device, recipe["augment"], channels_last=nhwc)
        counts = torch.tensor(split["counts"], dtype=torch.float64)
        self.method = build_method("unimix_bayias", spec, counts).to(device)
        torch.manual_seed(seed)
        model = build_model("resnet32", ds.num_classes, 3).to(device)
        if nhwc:
            model = model.to(memory_format=torch.channels_last)
        self.forward = fast_forward(model, recipe, device)
        self.stage = stage_one(self.forward, self.method, recipe, [])
        self.optimizer = build_optimizer(self.stage.params, self.stage.optimizer)
        self.steps = make_steps(self.stage, self.optimizer, self.method, device, recipe)  # eager, or a CUDA graph
        self.generator = torch.Generator().manual_seed(seed)
        self.n_train, self.n_test = len(self.feed.train_labels), len(self.feed.eval_labels("test"))
        self.epoch = 0
        self.tally = Tally(device)
        self.timing = {"data_s": 0.0, "compute_s": 0.0, "bookkeeping_s": 0.0, "steps": 0}

    def _step(self, plan: EpochPlan, b: int, attribute: bool) -> None:
        """The trainer's step, split into data side / forward-backward-step / bookkeeping."""
        t0 = time.perf_counter()
        x, y = self.feed.train_batch(plan.positions(b), self.generator)
        batch = batch_of(self.method, x, y, plan.draws_of(b))
        self._compute(batch, y, t0, attribute)

    def _compute(self, batch: MixedBatch, y: torch.Tensor, t0: float, attribute: bool) -> None:
        if attribute:
            _sync(self.device)
        t1 = time.perf_counter()
        logits = self.forward(batch.x)
        loss = self.method.loss_value(logits, batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if attribute:
            _sync(self.device)
        t2 = time.perf_counter()
        self.tally.add(loss, logits, y)  # what train_epoch does per step besides the step: device tallies
        if attribute:
            _sync(self.device)
        t3 = time.perf_counter()
        if attribute:
            self.timing["data_s"] += t1 - t0
            self.timing["compute_s"] += t2 - t1
            self.timing["bookkeeping_s"] += t3 - t2
            self.timing["steps"] += 1

    def _plan(self) -> tuple[EpochPlan, float]:
        """An epoch's plan (order, augmentation and mixing draws) and the seconds it took."""
        t0 = time.perf_counter()
        self.method.start_epoch(0, self.recipe["epochs"])
        plan = plan_epoch(self.stage, 0, self.method, self.feed, self.generator, self.batch_size)
        return plan, time.perf_counter() - t0

    def warmup(self) -> float:
        """A full and a last-batch-sized step and one evaluation: compilation and autotuning happen here."""
        t0 = time.perf_counter()
        self.forward.train()
        set_lr(self.optimizer, self.recipe["optimizer"]["lr"] * 0.01)
        plan, _ = self._plan()
        self._step(plan, 0, attribute=False)
        tail = plan.order[: len(plan.order) % self.batch_size]
        if len(tail):  # a batch of the last batch's size, planned alone
            self.feed.plan_epoch(tail, self.batch_size, self.generator)
            x, y = self.feed.train_batch(tail, self.generator)
            self._compute(self.method.mix(x, y, self.generator), y, time.perf_counter(), attribute=False)
        if drops_last(self.steps):  # a captured step: warm up and capture once, as the trainer's first epoch does
            self.train_epoch()
            self.epoch = 0
        self.evaluate()
        _sync(self.device)
        return time.perf_counter() - t0

    def attribute_steps(self, steps: int) -> None:
        """Time `steps` full batches segment by segment (the epoch's plan counted as data side)."""
        self.forward.train()
        plan, plan_s = self._plan()
        n_batches = max(1, len(plan.order) // self.batch_size)
        self.timing["data_s"] += plan_s * min(steps, n_batches) / n_batches  # its share per step
        for b in range(min(steps, n_batches)):
            self._step(plan, b, attribute=True)

    def train_epoch(self) -> float:
        _sync(self.device)
        t0 = time.perf_counter()
        ctx = EpochContext(self.stage, self.optimizer, self.method, self.feed, self.generator, self.batch_size,
                           "benchmark", self.steps, drops_last(self.steps))
        train_epoch(ctx, self.epoch)
        _sync(self.device)
        self.epoch += 1
        return time.perf_counter() - t0

    def evaluate(self) -> float:
        _sync(self.device)
        t0 = time.perf_counter()
        logits = predict(self.forward, self.feed, self.method, "test", eval_batch(self.batch_size))
        assert len(logits) == self.n_test
        return time.perf_counter() - t0
