"""This project's path, timed: InMemoryFeed (uint8 on the device, batched augmentation), the
vectorised method, and the trainer's own `train_epoch` / `predict` through `FastForward`."""

from __future__ import annotations

import time
from typing import Any

import torch

from ltgrid.train.accel import fast_forward
from ltgrid.data.arrays import ArrayDataset
from ltgrid.data.feed import InMemoryFeed
from ltgrid.methods import build_method
from ltgrid.models import build_model
from ltgrid.train.optim import build_optimizer, set_lr
from ltgrid.train.trainer import predict, stage_one, train_epoch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Project:
    """Build once, then `train_epoch()` / `evaluate()`; both return wall seconds."""

    def __init__(self, ds: ArrayDataset, split: dict[str, Any], recipe: dict[str, Any], spec: dict[str, Any],
                 device: torch.device, seed: int = 0) -> None:
        channels_last = bool(recipe.get("channels_last", device.type == "cuda"))
        self.device, self.recipe = device, recipe
        self.batch_size = recipe["batch_size"]
        self.feed = InMemoryFeed(ds, split, device, recipe["augment"], channels_last=channels_last)
        counts = torch.tensor(split["counts"], dtype=torch.float64)
        self.method = build_method("unimix_bayias", spec, counts).to(device)
        torch.manual_seed(seed)
        model = build_model("resnet32", ds.num_classes, 3).to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.forward = fast_forward(model, recipe, device)
        self.stage = stage_one(self.forward, self.method, recipe)
        self.optimizer = build_optimizer(self.stage.params, recipe["optimizer"])
        self.generator = torch.Generator().manual_seed(seed)
        self.n_train, self.n_test = len(self.feed.train_labels), len(self.feed.eval_labels("test"))
        self.epoch = 0
        self.timing = {"data_s": 0.0, "compute_s": 0.0, "bookkeeping_s": 0.0, "steps": 0}

    def _step(self, positions: torch.Tensor, attribute: bool) -> None:
        """The trainer's step, split into data side / forward-backward-step / bookkeeping."""
        t0 = time.perf_counter()
        x, y = self.feed.train_batch(positions, self.generator)
        batch = self.method.mix(x, y, self.generator)
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
        # What train_epoch does per step besides the step itself: the finite check and the tallies.
        assert torch.isfinite(loss)
        float(loss.detach().double().cpu()), int((logits.detach().argmax(1) == y).sum().cpu())
        t3 = time.perf_counter()
        if attribute:
            self.timing["data_s"] += t1 - t0
            self.timing["compute_s"] += t2 - t1
            self.timing["bookkeeping_s"] += t3 - t2
            self.timing["steps"] += 1

    def warmup(self) -> float:
        """A full and a last-batch-sized step and one evaluation: compilation and autotuning happen here."""
        t0 = time.perf_counter()
        self.forward.train()
        set_lr(self.optimizer, self.recipe["optimizer"]["lr"] * 0.01)
        order = self.stage.sampler.epoch_indices(self.feed.train_labels, 0, self.recipe["epochs"], self.generator)
        tail = len(order) % self.batch_size
        self._step(order[: self.batch_size], attribute=False)
        if tail:
            self._step(order[:tail], attribute=False)
        self.evaluate()
        _sync(self.device)
        return time.perf_counter() - t0

    def attribute_steps(self, steps: int) -> None:
        """Time `steps` full batches segment by segment (the sampler's epoch order counted as data side)."""
        self.forward.train()
        t0 = time.perf_counter()
        order = self.stage.sampler.epoch_indices(self.feed.train_labels, 0, self.recipe["epochs"], self.generator)
        epoch_order_s = time.perf_counter() - t0
        n_batches = max(1, len(order) // self.batch_size)
        self.timing["data_s"] += epoch_order_s * min(steps, n_batches) / n_batches  # its share per step
        for b in range(min(steps, n_batches)):
            self._step(order[b * self.batch_size : (b + 1) * self.batch_size], attribute=True)

    def train_epoch(self) -> float:
        _sync(self.device)
        t0 = time.perf_counter()
        train_epoch(self.stage, self.epoch, self.optimizer, self.method, self.feed, self.generator,
                    self.batch_size, "benchmark")
        _sync(self.device)
        self.epoch += 1
        return time.perf_counter() - t0

    def evaluate(self) -> float:
        _sync(self.device)
        t0 = time.perf_counter()
        logits = predict(self.forward, self.feed, self.method, "test", 4 * self.batch_size)
        assert len(logits) == self.n_test
        return time.perf_counter() - t0
