"""The baseline: how long-tailed CIFAR code usually trains, written here only to be timed against.

A torchvision-style Dataset hands out one PIL image at a time through per-image transforms
(RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize); a DataLoader with
worker processes batches them; UniMix runs as a Python loop over the batch (one partner
draw, one Beta draw and one blend per sample); the loss is Bayias (CE on z + log prior).
Same ResNet-32, SGD and batch size as this project's path.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from ltgrid.data.arrays import ArrayDataset
from ltgrid.models import build_model
from ltgrid.params import fill_optimizer
from ltgrid.train.optim import build_optimizer


class PILImages(Dataset):
    """Images as PIL objects, transformed one by one (what torchvision.datasets.CIFAR10 does)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, transform: Any) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


def per_sample_unimix(
    x: Tensor, y: Tensor, counts: np.ndarray, alpha: float, tau: float, rng: np.random.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """UniMix one sample at a time: partner j ~ n_{y_j}^tau, factor (n_j / (n_i + n_j) + Beta) mod 1."""
    labels = y.tolist()
    weights = np.array([counts[c] ** tau for c in labels])
    probs = weights / weights.sum()
    mixed = torch.empty_like(x)
    lam = torch.empty(len(labels))
    partner_labels = torch.empty(len(labels), dtype=torch.long)
    for i, yi in enumerate(labels):
        j = int(rng.choice(len(labels), p=probs))
        xi = counts[labels[j]] / (counts[yi] + counts[labels[j]])
        factor = (xi + rng.beta(alpha, alpha)) % 1.0
        mixed[i] = factor * x[i] + (1 - factor) * x[j]
        lam[i] = factor
        partner_labels[i] = labels[j]
    return mixed, lam.to(x.device), partner_labels.to(x.device)


def bayias_mixed_loss(logits: Tensor, y_a: Tensor, y_b: Tensor, lam: Tensor, log_prior: Tensor) -> Tensor:
    z = logits + log_prior
    return (lam * F.cross_entropy(z, y_a, reduction="none") + (1 - lam) * F.cross_entropy(z, y_b, reduction="none")).mean()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Conventional:
    """Build once, then `train_epoch()` / `evaluate()`; both return wall seconds."""

    def __init__(self, ds: ArrayDataset, split: dict[str, Any], recipe: dict[str, Any], spec: dict[str, Any],
                 device: torch.device, workers: int, seed: int = 0) -> None:
        idx = np.asarray(split["train_indices"], dtype=np.int64)
        train_x, train_y = ds.train_x[idx], ds.train_y[idx]
        mean = tuple((train_x / 255.0).mean(axis=(0, 1, 2)).tolist())
        std = tuple((train_x / 255.0).std(axis=(0, 1, 2)).tolist())
        pad = recipe["augment"]["crop_padding"]
        train_tf = transforms.Compose([
            transforms.RandomCrop(32, padding=pad), transforms.RandomHorizontalFlip(),
            transforms.ToTensor(), transforms.Normalize(mean, std),
        ])
        test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
        cuda = device.type == "cuda"
        self.batch_size = recipe["batch_size"]
        self.train_loader = DataLoader(
            PILImages(train_x, train_y, train_tf), batch_size=self.batch_size, shuffle=True, num_workers=workers,
            pin_memory=cuda, generator=torch.Generator().manual_seed(seed),
        )
        self.test_loader = DataLoader(
            PILImages(ds.test_x, ds.test_y, test_tf), batch_size=4 * self.batch_size, shuffle=False,
            num_workers=workers, pin_memory=cuda,
        )
        self.n_train, self.n_test = len(train_y), len(ds.test_y)
        self.device = device
        self.counts = np.asarray(split["counts"], dtype=np.float64)
        self.log_prior = torch.log(torch.tensor(self.counts / self.counts.sum(), dtype=torch.float32)).to(device)
        mixing = spec["mixing"]
        self.alpha, self.tau = float(mixing["alpha"]), float(mixing["tau"])
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        self.model = build_model("resnet32", ds.num_classes, 3).to(device)
        self.optimizer = build_optimizer(self.model.parameters(), fill_optimizer(recipe["optimizer"]))
        self.timing = {"data_s": 0.0, "compute_s": 0.0, "steps": 0}

    def step(self, x: Tensor, y_a: Tensor, y_b: Tensor, lam: Tensor) -> None:
        self.model.train()
        loss = bayias_mixed_loss(self.model(x), y_a, y_b, lam, self.log_prior)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def train_epoch(self, max_steps: int | None = None, attribute: bool = False) -> float:
        """One pass (or `max_steps`); `attribute` also splits time into data side vs compute (synchronising)."""
        _sync(self.device)
        t0 = time.perf_counter()
        mark = t0
        for b, (x, y) in enumerate(self.train_loader):
            if max_steps is not None and b >= max_steps:
                break
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            mixed, lam, y_b = per_sample_unimix(x, y, self.counts, self.alpha, self.tau, self.rng)
            if attribute:
                _sync(self.device)
                now = time.perf_counter()
                self.timing["data_s"] += now - mark
                mark = now
            self.step(mixed, y, y_b, lam)
            if attribute:
                _sync(self.device)
                now = time.perf_counter()
                self.timing["compute_s"] += now - mark
                self.timing["steps"] += 1
                mark = now
        _sync(self.device)
        return time.perf_counter() - t0

    @torch.no_grad()
    def evaluate(self) -> float:
        _sync(self.device)
        t0 = time.perf_counter()
        self.model.eval()
        outs = [self.model(x.to(self.device, non_blocking=True)).float().cpu() for x, _ in self.test_loader]
        assert sum(len(o) for o in outs) == self.n_test
        return time.perf_counter() - t0
