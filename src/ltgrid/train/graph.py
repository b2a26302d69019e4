"""Whole-step CUDA graph capture (recipe `cuda_graph: true`): one replay per training step.

ResNet-32 at batch 64 is bound by kernel launches on a large GPU: a step is hundreds of
small kernels. Captured once, forward, loss, backward, SGD step and the device tallies
replay as one graph. What a graph needs, and how this gives it:

- static shapes: every batch is full; the last partial batch of an epoch is dropped
  (`drop_last`), and the run records how many images that leaves out;
- static inputs: each step's batch (gathered, augmented and mixed eagerly on the device,
  from draws made before the epoch) is copied into the buffers the graph reads;
- nothing read back inside the step (loop.py), so capture is legal at all;
- Python values baked in at capture (the epoch's lr, whether it mixes, a deferred
  re-weighting switched on): the graph is recaptured at the first step of every epoch,
  into the same memory pool. The first steps of a stage run eagerly on a side stream
  before the first capture, as CUDA graph capture requires (cuDNN/cuBLAS set-up).

Off CUDA the option is ignored with a note; `capture=False` runs the same static-buffer
path eagerly, which is how the CPU tests check it.
"""

from __future__ import annotations

from typing import Any

import torch

from ltgrid.methods import Method
from ltgrid.methods.base import MixedBatch
from ltgrid.train import faults
from ltgrid.train.accel import note
from ltgrid.train.loop import EagerSteps, Stage, Steps, Tally, compute

WARMUP_STEPS = 3


class GraphSteps:
    """Steps replayed from a CUDA graph recaptured each epoch (see the module docstring)."""

    def __init__(self, stage: Stage, optimizer: torch.optim.Optimizer, method: Method, device: torch.device,
                 capture: bool = True) -> None:
        self.stage, self.optimizer, self.method = stage, optimizer, method
        self.tally = Tally(device)
        self.fault = faults.active()
        self.capture = capture
        self.static: MixedBatch | None = None
        self.graph: Any = None
        self.pool: Any = None
        self.warm = 0
        self.replays = 0

    def start_epoch(self) -> None:
        self.tally.reset()
        self.graph = None  # recapture: this epoch's lr and schedule are baked in at capture

    def _load(self, batch: MixedBatch, lam: torch.Tensor) -> MixedBatch:
        """The batch copied into the static buffers the graph reads."""
        if self.static is None:
            self.static = MixedBatch(batch.x.clone(), batch.y_a.clone(), batch.y_b.clone(), lam.clone(), batch.mixed)
            return self.static
        if batch.x.shape != self.static.x.shape:
            raise ValueError(f"cuda_graph needs every batch of shape {tuple(self.static.x.shape)}, got {tuple(batch.x.shape)}")
        for name in ("x", "y_a", "y_b"):
            getattr(self.static, name).copy_(getattr(batch, name))
        self.static.lam.copy_(lam)
        self.static.mixed = batch.mixed
        return self.static

    def run(self, batch: MixedBatch, epoch: int, b: int) -> None:
        # an injected NaN reaches the loss through the label weights (the graph has no Python hook)
        static = self._load(batch, faults.inject(self.fault, batch.lam, epoch, b))
        if not self.capture:
            compute(self.stage, self.optimizer, static, self.tally)
            return
        if self.warm < WARMUP_STEPS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                compute(self.stage, self.optimizer, static, self.tally)
            torch.cuda.current_stream().wait_stream(side)
            self.warm += 1
            return
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, pool=self.pool):  # records, runs nothing
                compute(self.stage, self.optimizer, static, self.tally)
            self.pool = self.graph.pool()
        self.graph.replay()
        self.replays += 1


def make_steps(stage: Stage, optimizer: torch.optim.Optimizer, method: Method, device: torch.device,
               recipe: dict[str, Any]) -> Steps:
    """The step runner the resolved recipe asks for: a CUDA graph with `cuda_graph` on CUDA, else eager."""
    if not recipe["cuda_graph"]:
        return EagerSteps(stage, optimizer, method, device)
    if device.type != "cuda":
        note(f"cuda_graph ignored on {device.type}: whole-step capture needs CUDA; the last partial batch is kept")
        return EagerSteps(stage, optimizer, method, device)
    return GraphSteps(stage, optimizer, method, device)


def drops_last(steps: Steps) -> bool:
    """Static shapes: a captured runner needs the epoch cut into full batches only."""
    return isinstance(steps, GraphSteps)
