"""Train one cell: its resolved spec in, checkpoint + test predictions + run record out.

A cell runs its stages (train/stages.py) and then, for tau-norm, a post-hoc step. Each epoch the
sampler orders the split, the feed augments batches on the device, the method mixes and scores
them (train/loop.py); the model is evaluated on the test (and validation) images, the epoch is
logged to MLflow and a checkpoint is written atomically, so a killed cell resumes where it
stopped and continues the same MLflow run. The parts are assembled in train/parts.py, the state
in train/state.py, the outputs written by train/outputs.py.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import torch

from ltgrid.cell_spec import CellSpec
from ltgrid.tracking.cell_run import CellRun, open_cell_run
from ltgrid.train.checkpoint import save_best, save_checkpoint
from ltgrid.train.graph import drops_last, make_steps
from ltgrid.train.loop import EpochContext, Stage, TrainingError, train_epoch
from ltgrid.train.optim import build_optimizer
from ltgrid.train.outputs import write_outputs
from ltgrid.train.parts import CellParts, build_parts
from ltgrid.train.predict import eval_batch, predict
from ltgrid.train.progress import Progress
from ltgrid.train.state import resume, rng_states, seed_everything

__all__ = ["Trainer", "TrainingError", "train_cell"]


class Trainer:
    """Runs a cell's stages from its state: each epoch trains, evaluates when due, logs to the
    cell's MLflow run and checkpoints (in that order, so a rerun epoch is logged once only)."""

    def __init__(self, spec: CellSpec, parts: CellParts, out_dir: Path, tracking: dict[str, str]) -> None:
        self.spec, self.parts, self.out_dir = spec, parts, out_dir
        self.label, self.batch_size = spec.label, spec.batch_size
        self.state, saved = resume(out_dir, spec.to_dict(), parts.model, parts.generator, parts.device, self.label)
        self.saved_optimizer = saved.get("optimizer") if saved is not None else None
        # the run the checkpoint names, else this recipe's earlier run of the cell, else a new one
        self.run, self.reused = open_cell_run(tracking, spec.to_dict(), self.label, self.state.run_id)
        self.state.run_id = self.run.run_id
        # An epoch logged before a kill (between its MLflow log and its checkpoint, or after the
        # whole cell, which then reopens its run) is trained again, to the same numbers, and not logged again.
        self.logged_steps = self.run.logged_steps("train_loss", "test_acc") if self.reused else set()
        total = sum(s.epochs for s in parts.stages) + (parts.posthoc is not None)
        self.progress = Progress(total, len(self.state.history), self.label)

    def train(self) -> None:
        stages = self.parts.stages
        try:
            for index, stage in enumerate(stages):
                if index >= self.state.stage:
                    self.run_stage(index, stage, last=index == len(stages) - 1 and self.parts.posthoc is None)
            if self.parts.posthoc is not None and self.state.stage == len(stages):
                self.run_posthoc()
        finally:
            self.progress.close()

    def run_stage(self, index: int, stage: Stage, last: bool) -> None:
        optimizer = build_optimizer(stage.params, stage.optimizer)
        steps = make_steps(stage, optimizer, self.parts.method, self.parts.device, self.spec.recipe)
        if self.state.epoch == 0:
            stage.prepare()
            if last:
                self.state.best = {}  # model selection among the final stage's epochs only
        elif self.saved_optimizer:
            optimizer.load_state_dict(self.saved_optimizer)
        p = self.parts
        ctx = EpochContext(stage, optimizer, p.method, p.feed, p.generator, self.batch_size, self.label,
                           steps, drops_last(steps))
        eval_every = self.spec.recipe["eval_every"]
        for epoch in range(self.state.epoch, stage.epochs):
            record = train_epoch(ctx, epoch)
            self.state.train_seconds += record.pop("seconds")
            if (epoch + 1) % eval_every == 0 or epoch == stage.epochs - 1:
                self.evaluate(record, last)
            self.state.epoch = epoch + 1
            if self.state.epoch == stage.epochs:
                self.state.stage, self.state.epoch = index + 1, 0
            self.finish_epoch(record, optimizer)

    def run_posthoc(self) -> None:
        """The step on the finished model (tau-norm): one evaluated record, the cell's only selection."""
        posthoc = self.parts.posthoc
        assert posthoc is not None
        record: dict[str, Any] = {"stage": posthoc.name, "epoch": 0, **posthoc.apply()}
        self.state.best = {}
        self.evaluate(record, track_best=True)
        self.state.stage, self.state.epoch = self.state.stage + 1, 0
        self.finish_epoch(record, None)

    def evaluate(self, record: dict[str, Any], track_best: bool) -> None:
        p = self.parts
        batch = eval_batch(self.batch_size)
        logits = {which: predict(p.forward, p.feed, p.method, which, batch) for which in p.feed.eval_sets}
        epoch = len(self.state.history)
        written: str | None = None  # this epoch's best file, written once even if test and val both improve
        for which, logits_np in logits.items():
            acc = 100.0 * float((logits_np.argmax(1) == p.feed.eval_labels(which).numpy()).mean())
            record[f"{which}_acc"] = acc
            best = self.state.best.get(which)
            if track_best and (best is None or acc > best["acc"]):
                # every eval set's logits at the chosen epoch (the val ones fit temperature scaling), in their own file
                written = written or save_best(self.out_dir, epoch, logits)
                self.state.best[which] = {"acc": acc, "epoch": epoch, "file": written}

    def finish_epoch(self, record: dict[str, Any], optimizer: torch.optim.Optimizer | None) -> None:
        step = len(self.state.history)
        self.state.history.append(record)
        if step not in self.logged_steps:
            self.run.log_metrics({k: v for k, v in record.items() if isinstance(v, float)}, step=step)
        save_checkpoint(self.out_dir, {
            "model": self.parts.model.state_dict(), "optimizer": optimizer.state_dict() if optimizer else None,
            "generator": self.parts.generator.get_state(), "rng": rng_states(), "state": asdict(self.state),
            "cell": self.spec.to_dict(),
        })
        self.progress.update(record)


@contextmanager
def failures_marked(run: CellRun, spec: CellSpec) -> Iterator[None]:
    """A cell that cannot go on marks its MLflow run FAILED with the reason; out of GPU memory
    becomes a TrainingError that says what to change."""
    try:
        yield
    except torch.cuda.OutOfMemoryError:
        error = TrainingError(
            f"{spec.label}: out of GPU memory (batch_size={spec.batch_size}, model={spec.model}); lower "
            f"recipes.{spec.recipe_name}.batch_size, or give the job a GPU to itself (LTGRID_SLOTS_PER_GPU=1)."
        )
        run.fail(str(error))
        raise error from None
    except TrainingError as error:
        run.fail(str(error))
        raise


def check_batch(spec: CellSpec, parts: CellParts, split_path: str | Path) -> None:
    """No epoch without a full optimiser step: `validate` refuses a batch larger than a split it
    can size beforehand; this catches the rest (list files, plugin sources) before training."""
    n_train, batch = len(parts.feed.train_labels), spec.batch_size
    if batch > n_train:
        raise TrainingError(
            f"{spec.label}: recipes.{spec.recipe_name}.batch_size = {batch} is larger than the training split "
            f"{split_path} ({n_train} images): an epoch would make no full optimiser step; use a batch of at most {n_train}"
        )


def train_cell(
    cell: CellSpec | dict[str, Any],
    data_path: str | Path,
    split_path: str | Path,
    out_dir: str | Path,
    tracking: dict[str, str],
    threads: int | None = None,
    stage1_model: str | Path | None = None,
) -> dict[str, Any]:
    """Run (or resume) one cell; write predictions.npz, model.pt and run.json into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = CellSpec.of(cell)
    if threads:
        torch.set_num_threads(threads)
    seed_everything(spec.seed, bool(spec.recipe["deterministic"]))
    parts = build_parts(spec, data_path, split_path, stage1_model)
    check_batch(spec, parts, split_path)
    trainer = Trainer(spec, parts, out_dir, tracking)
    if not trainer.reused:
        trainer.run.log_split(f"{spec.dataset}/rho{spec.rho:g}_split{spec.split_seed}", split_path, data_path, parts.split)
    with failures_marked(trainer.run, spec):
        trainer.train()
    return write_outputs(out_dir, spec, parts, trainer.state, trainer.run)
