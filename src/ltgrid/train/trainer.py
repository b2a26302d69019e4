"""Train one cell: resolved recipe in, checkpoint + test predictions + run record out.

A cell runs one or two stages. Stage 1 trains the whole network with the method's parts
(sampler, mixing, loss, schedule, optimiser changes). A method with `stage2` then trains the
classifier, LWS scales or both on a frozen backbone (cRT, LWS, MiSLAS, weight balancing's
fine-tuning) or rescales its weights (tau-normalisation); its stage 1 is either
trained here or, with `stage2.base`, read from the base method's finished cell.

Each epoch the sampler orders the split, the feed augments batches on the device, the
method mixes and scores them; the model is evaluated on the test (and validation) images,
the epoch is logged to MLflow and a checkpoint is written atomically, so a killed cell
resumes where it stopped and continues the same MLflow run.
"""

from __future__ import annotations

import math
import os
import random
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ltgrid.train.accel import fast_forward, set_deterministic
from ltgrid.data.feed import build_feed
from ltgrid.data.splits import read_split
from ltgrid.io import atomic_path, write_json
from ltgrid.methods import mixed_loss
from ltgrid.methods.compose import Method, build_method, loss_needs_normed_classifier
from ltgrid.methods.head import decay_groups, init_classifier_bias, undecayed
from ltgrid.methods.samplers import SAMPLERS
from ltgrid.methods.stage2 import ScaledClassifier, max_norm_project, max_norm_radius, select_tau, tau_grid, tau_normalize
from ltgrid.models import build_model
from ltgrid.params import fill_recipe
from ltgrid.train.checkpoint import CHECKPOINT  # noqa: F401  (the file name, for callers)
from ltgrid.train.checkpoint import load_best, load_checkpoint, remove_checkpoint, save_best, save_checkpoint
from ltgrid.train.graph import drops_last, make_steps
from ltgrid.train.loop import Stage, TrainingError, train_epoch
from ltgrid.train.optim import build_optimizer, lr_at
from ltgrid.tracking.cell_run import CellRun, open_cell_run
from ltgrid.tracking.store import store_record

MODEL = "model.pt"


def cell_label(cell: dict[str, Any]) -> str:
    return f"{cell['grid']}/{cell['dataset']}/rho{cell['rho']:g}/split{cell['split_seed']}/{cell['method']}/seed{cell['seed']}"


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    set_deterministic(deterministic)


def rng_states() -> dict[str, Any]:
    """Every global generator a cell may draw from (its own torch.Generator is saved beside)."""
    return {
        "python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"].cpu())
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in states["cuda"]])


def pick_device() -> torch.device:
    """CUDA when present (the GPU lease has already narrowed CUDA_VISIBLE_DEVICES), else CPU."""
    return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")


@torch.no_grad()
def predict(model: nn.Module, feed: Any, method: Method, which: str, batch_size: int) -> np.ndarray:
    """Logits used for prediction (after any post-hoc adjustment) for a whole eval set; they stay
    on the device until the set is done."""
    model.eval()
    out = [method.eval_logits(model(x)).float() for x, _ in feed.eval_batches(which, batch_size)]
    return torch.cat(out).cpu().numpy()  # one copy per set


@torch.no_grad()
def clean_train_accuracy(model: nn.Module, feed: Any, batch_size: int,
                         joint: Callable[[Tensor], Tensor] = lambda outputs: outputs) -> float | None:
    """Top-1 accuracy (%) on the unaugmented training split in eval mode, None when the feed
    cannot replay it: whether the model fits its training set, as the paper's models do. `joint` makes
    the outputs one (N, C) logit (Method.joint_logits: a multi-expert model's experts combined)."""
    batches = getattr(feed, "train_eval_batches", None)
    if batches is None:
        return None
    model.eval()
    correct, seen = None, 0
    for x, y in batches(batch_size):
        hits = (joint(model(x)).argmax(1) == y).sum()
        correct = hits if correct is None else correct + hits
        seen += len(y)
    return 100.0 * float(correct.item()) / seen if seen else None  # one read, after the loop


class Progress:
    """A progress bar on a terminal, one plain line per epoch in logs."""

    def __init__(self, total: int, start: int, label: str) -> None:
        self.label = label
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc=label, unit="epoch", leave=False)

    def update(self, record: dict[str, Any]) -> None:
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.update(1)
        else:
            print(f"[{self.label}] {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def stage_one(model: nn.Module, method: Method, recipe: dict[str, Any], frozen: Sequence[nn.Parameter] = (),
              no_decay: Sequence[nn.Parameter] = ()) -> Stage:
    """The whole network with the method's parts; `frozen` (LWS scales) waits for stage 2; `no_decay`
    (a sigmoid loss's classifier bias, methods/head.py) trains without weight decay."""
    recipe = fill_recipe(recipe)  # a no-op for a resolved cell's recipe; callers may pass a partial one
    schedule = recipe["lr_schedule"]
    optimizer = {**recipe["optimizer"], **method.optimizer}
    base_lr = optimizer["lr"]
    return Stage(
        name="stage1",
        epochs=recipe["epochs"],
        lr=lambda e: lr_at(e, base_lr, schedule["warmup_epochs"], schedule["steps"],
                           recipe["epochs"] if schedule.get("cosine") else None),
        sampler=method.sampler,
        params=decay_groups([p for p in model.parameters() if all(p is not f for f in frozen)], no_decay),
        forward=model,
        mixing=True,
        loss=method.loss_value,
        optimizer=optimizer,
        joint=method.joint_logits,
    )


def val_scorer(forward: Callable[[Tensor], Tensor], feed: Any, method: Method, batch_size: int) -> Callable[[], float] | None:
    """Validation accuracy (%) of the model as it stands; None without a validation set."""
    if "val" not in feed.eval_sets:
        return None
    labels = feed.eval_labels("val").numpy()
    return lambda: 100.0 * float((predict(forward, feed, method, "val", batch_size).argmax(1) == labels).mean())


def tau_norm_stage(model: nn.Module, method: Method, val_accuracy: Callable[[], float] | None) -> Stage:
    """Rescale the classifier rows by ||w_c||^tau, bias dropped; tau chosen on the validation set
    (`val_accuracy` scores the model as it stands) when there is one and the spec gives a range."""
    spec = method.stage2
    assert spec is not None
    classifier = model.classifier
    info: dict[str, Any] = {}

    def tau_norm() -> None:
        with torch.no_grad():
            weight = classifier.weight.detach().clone()
            if getattr(classifier, "bias", None) is not None:
                classifier.bias.zero_()
            tau = float(spec.tau)
            if val_accuracy is not None and spec.tau_range is not None:
                def score(w: Tensor) -> float:
                    classifier.weight.copy_(w)
                    return val_accuracy()

                taus = tau_grid(spec.tau_range)
                tau, scores = select_tau(weight, taus, score)
                info.update(tau_val_acc=max(scores), tau_scores=dict(zip(map(str, taus), scores)))
            classifier.weight.copy_(tau_normalize(weight, tau))
            info["tau"] = tau

    return Stage("tau_norm", 0, lambda e: 0.0, method.sampler, [], model, False, method.loss_value, {},
                 prepare=tau_norm, info=info)


def prepare_classifier(model: nn.Module, method: Method) -> list[nn.Parameter]:
    """Give the model what its stage 2 keeps in checkpoints (LWS scales, the MaxNorm radius);
    returns the parameters stage 1 must leave alone."""
    spec = method.stage2
    if spec is None:
        return []
    device = next(model.parameters()).device
    if spec.max_norm is not None:
        model.register_buffer("max_norm_radius", torch.tensor(float("inf"), device=device))
    if not spec.scaled:
        return []
    model.classifier = ScaledClassifier(model.classifier, model.classifier.weight.shape[0]).to(device)
    return [model.classifier.scales]


def frozen_backbone(model: nn.Module, shift_bn: bool) -> Callable[[Tensor], Tensor]:
    """Logits from features computed without gradients; the backbone's batch norms keep stage 1's
    statistics, or with `shift_bn` run in training mode so they re-estimate them on these batches."""
    norms = [m for name, m in model.named_modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and not name.startswith("classifier")]

    def forward(x: Tensor) -> Tensor:
        model.eval()
        for module in norms if shift_bn else ():
            module.train()
        with torch.no_grad():
            feats = model.forward_features(x)
        return model.classifier(feats)

    return forward


def stage_two(
    model: nn.Module, method: Method, counts: Tensor, recipe: dict[str, Any],
    val_accuracy: Callable[[], float] | None = None,
) -> Stage:
    """A frozen backbone under the stage-2 kind (stage2.py): what trains, its loss, sampler,
    cosine lr, optional re-estimated batch-norm statistics and MaxNorm projection; tau_norm
    picks tau with `val_accuracy` (the model's validation accuracy) when there is one."""
    spec, loss = method.stage2, method.stage2_loss
    assert spec is not None and loss is not None
    classifier = model.classifier
    if not spec.trains:
        return tau_norm_stage(model, method, val_accuracy)
    inner = classifier.inner if isinstance(classifier, ScaledClassifier) else classifier
    sampler_kwargs = dict(spec.sampler)
    sampler = SAMPLERS.build(sampler_kwargs.pop("name"), class_counts=counts, **sampler_kwargs)
    groups: list[dict[str, Any]] = []
    if spec.kind in ("crt", "mislas", "finetune"):
        groups.append({"params": list(inner.parameters()), "lr_factor": spec.classifier_lr_factor})
    if spec.scaled:
        groups.append({"params": [classifier.scales], "lr_factor": 1.0})

    def prepare() -> None:
        if spec.kind == "crt":
            for module in inner.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
        if spec.max_norm is not None:  # the stage-1 rows' norms set the radius (kept in checkpoints)
            model.max_norm_radius.copy_(max_norm_radius(inner.weight, spec.max_norm))

    def project() -> None:
        if spec.max_norm is not None:
            with torch.no_grad():
                inner.weight.copy_(max_norm_project(inner.weight, model.max_norm_radius))

    optimizer = dict(fill_recipe(recipe)["optimizer"])
    if spec.weight_decay is not None:
        optimizer["weight_decay"] = spec.weight_decay
    return Stage(
        name=spec.kind,
        epochs=spec.epochs,
        lr=lambda e: 0.5 * spec.lr * (1 + math.cos(math.pi * e / spec.epochs)),
        sampler=sampler,
        params=groups,
        forward=frozen_backbone(model, spec.shift_bn),
        mixing=False,
        loss=lambda logits, batch: mixed_loss(loss, logits, batch),
        optimizer=optimizer,
        prepare=prepare,
        end_epoch=project,
    )


@dataclass
class CellState:
    """Where a cell is: saved (as a dict) in every checkpoint, so a killed cell resumes exactly."""

    stage: int = 0  # index of the stage in progress
    epoch: int = 0  # next epoch of that stage
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per finished epoch
    best: dict[str, dict[str, Any]] = field(default_factory=dict)  # per eval set: acc, epoch, logits file
    run_id: str | None = None
    train_seconds: float = 0.0


@dataclass
class CellParts:
    """What a cell trains with, built once from its resolved recipe."""

    device: torch.device
    split: dict[str, Any]
    feed: Any
    method: Method
    model: nn.Module
    forward: Callable[[Tensor], Tensor]  # the model through accel (bf16 / compile), or the model itself
    stages: list[Stage]
    generator: torch.Generator  # every draw of the cell (sampler, augmentation, mixing)


def build_parts(cell: dict[str, Any], data_path: str | Path, split_path: str | Path,
                stage1_model: str | Path | None) -> CellParts:
    """Feed, method, model and stages of a cell; a stage-2 cell on a shared stage 1 loads its model."""
    recipe = cell["recipe"]
    device = pick_device()
    split = read_split(split_path, data_path)
    channels_last = bool(recipe.get("channels_last", device.type == "cuda"))  # unset: on for CUDA
    feed = build_feed(str(data_path), split, device, recipe, channels_last, cell.get("normalize"))
    counts = torch.tensor(split["counts"], dtype=torch.float64)
    method = build_method(cell["method"], cell["method_spec"], counts).to(device)
    base_spec = cell.get("base_method_spec")
    normed = loss_needs_normed_classifier(base_spec) if base_spec else method.needs_normed_classifier
    model = build_model(cell["model"], feed.num_classes, feed.in_channels, normed_classifier=normed).to(device)
    init_classifier_bias(model, method.loss)  # the loss's prior bias (Cui et al.'s sigmoid focal), before any load
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    forward = fast_forward(model, recipe, device)
    if stage1_model is not None:
        model.load_state_dict(torch.load(stage1_model, map_location=device, weights_only=True))
    frozen = prepare_classifier(model, method)
    stages = [] if stage1_model is not None else [stage_one(forward, method, recipe, frozen, undecayed(model, method.loss))]
    if method.stage2 is not None:
        scorer = val_scorer(forward, feed, method, 4 * recipe["batch_size"])
        stages.append(stage_two(model, method, counts, recipe, scorer))
    generator = torch.Generator().manual_seed(cell["seed"])
    return CellParts(device, split, feed, method, model, forward, stages, generator)


def resume(out_dir: Path, cell: dict[str, Any], parts: CellParts, label: str) -> tuple[CellState, dict[str, Any] | None]:
    """The state to start from: a fresh one, or the checkpoint's (model, generators restored) when
    it was written for exactly this cell's params."""
    saved, why_not = load_checkpoint(out_dir, cell, parts.device)
    if why_not:
        print(f"[{label}] {why_not}", file=sys.stderr, flush=True)
    if saved is None:
        return CellState(), None
    parts.model.load_state_dict(saved["model"])
    parts.generator.set_state(saved["generator"].cpu())
    set_rng_states(saved["rng"])
    state = CellState(**saved["state"])
    print(f"[{label}] resuming at stage {state.stage}, epoch {state.epoch}", file=sys.stderr, flush=True)
    return state, saved


class Trainer:
    """Runs a cell's stages from its state: each epoch trains, evaluates when due, logs to the
    cell's MLflow run and checkpoints (in that order, so a rerun epoch is logged once only)."""

    def __init__(self, cell: dict[str, Any], parts: CellParts, out_dir: Path, run: CellRun, state: CellState,
                 saved: dict[str, Any] | None, label: str, reused: bool) -> None:
        self.cell, self.parts, self.out_dir, self.run, self.state, self.label = cell, parts, out_dir, run, state, label
        self.saved_optimizer = saved.get("optimizer") if saved is not None else None
        # An epoch logged before a kill (between its MLflow log and its checkpoint, or after the
        # whole cell, which then reopens its run) is trained again, to the same numbers, and not logged again.
        self.logged_steps = run.logged_steps("train_loss", "test_acc") if reused else set()
        self.batch_size = cell["recipe"]["batch_size"]
        self.progress = Progress(sum(max(s.epochs, 1) for s in parts.stages), len(state.history), label)

    def train(self) -> None:
        try:
            for index, stage in enumerate(self.parts.stages):
                if index >= self.state.stage:
                    self.run_stage(index, stage, last=index == len(self.parts.stages) - 1)
        finally:
            self.progress.close()

    def run_stage(self, index: int, stage: Stage, last: bool) -> None:
        optimizer = build_optimizer(stage.params, stage.optimizer) if stage.params else None
        steps = make_steps(stage, optimizer, self.parts.method, self.parts.device, self.cell["recipe"]) if optimizer else None
        if self.state.epoch == 0:
            stage.prepare()
            if last:
                self.state.best = {}  # model selection among the final stage's epochs only
        elif self.saved_optimizer and optimizer is not None:
            optimizer.load_state_dict(self.saved_optimizer)
        if stage.epochs == 0:  # tau-norm: no training, one evaluated record
            record: dict[str, Any] = {"stage": stage.name, "epoch": 0, **stage.info}
            self.evaluate(record, last)
            self.state.stage, self.state.epoch = index + 1, 0
            self.finish_epoch(record, None)
            return
        eval_every = self.cell["recipe"]["eval_every"]
        for epoch in range(self.state.epoch, stage.epochs):
            p = self.parts
            record = train_epoch(stage, epoch, optimizer, p.method, p.feed, p.generator, self.batch_size, self.label,
                                 steps=steps, drop_last=drops_last(steps))
            self.state.train_seconds += record.pop("seconds")
            if (epoch + 1) % eval_every == 0 or epoch == stage.epochs - 1:
                self.evaluate(record, last)
            self.state.epoch = epoch + 1
            if self.state.epoch == stage.epochs:
                self.state.stage, self.state.epoch = index + 1, 0
            self.finish_epoch(record, optimizer)

    def evaluate(self, record: dict[str, Any], track_best: bool) -> None:
        p = self.parts
        logits = {which: predict(p.forward, p.feed, p.method, which, 4 * self.batch_size) for which in p.feed.eval_sets}
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
        self.checkpoint(optimizer)
        self.progress.update(record)

    def checkpoint(self, optimizer: torch.optim.Optimizer | None) -> None:
        save_checkpoint(self.out_dir, {
            "model": self.parts.model.state_dict(), "optimizer": optimizer.state_dict() if optimizer else None,
            "generator": self.parts.generator.get_state(), "rng": rng_states(), "state": asdict(self.state),
            "cell": self.cell,
        })


@contextmanager
def failures_marked(run: CellRun, cell: dict[str, Any], label: str) -> Iterator[None]:
    """A cell that cannot go on marks its MLflow run FAILED with the reason; out of GPU memory
    becomes a TrainingError that says what to change."""
    try:
        yield
    except torch.cuda.OutOfMemoryError:
        error = TrainingError(
            f"{label}: out of GPU memory (batch_size={cell['recipe']['batch_size']}, model={cell['model']}); lower "
            f"recipes.{cell['recipe_name']}.batch_size, or give the job a GPU to itself (LTGRID_SLOTS_PER_GPU=1)."
        )
        run.fail(str(error))
        raise error from None
    except TrainingError as error:
        run.fail(str(error))
        raise


def check_batch(cell: dict[str, Any], parts: CellParts, split_path: str | Path, label: str) -> None:
    """No epoch without a full optimiser step: `validate` refuses a batch larger than a split it
    can size beforehand; this catches the rest (list files, plugin sources) before training."""
    n_train, batch = len(parts.feed.train_labels), cell["recipe"]["batch_size"]
    if batch > n_train:
        raise TrainingError(
            f"{label}: recipes.{cell['recipe_name']}.batch_size = {batch} is larger than the training split "
            f"{split_path} ({n_train} images): an epoch would make no full optimiser step; use a batch of at most {n_train}"
        )


def train_cell(
    cell: dict[str, Any],
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
    label = cell_label(cell)
    if threads:
        torch.set_num_threads(threads)
    seed_everything(cell["seed"], bool(cell["recipe"]["deterministic"]))
    parts = build_parts(cell, data_path, split_path, stage1_model)
    check_batch(cell, parts, split_path, label)
    state, saved = resume(out_dir, cell, parts, label)
    run, reused = open_cell_run(tracking, cell, label, state.run_id)
    if not reused:
        run.log_split(f"{cell['dataset']}/rho{cell['rho']:g}_split{cell['split_seed']}", split_path, data_path, parts.split)
    state.run_id = run.run_id
    with failures_marked(run, cell, label):
        Trainer(cell, parts, out_dir, run, state, saved, label, reused).train()
    return write_outputs(out_dir, cell, label, parts, state, run)


def write_outputs(
    out_dir: Path, cell: dict[str, Any], label: str, parts: CellParts, state: CellState, run: CellRun,
) -> dict[str, Any]:
    """predictions.npz, model.pt, then run.json last: a cell is finished once run.json exists."""
    model, feed, method, batch_size = parts.model, parts.feed, parts.method, cell["recipe"]["batch_size"]
    arrays = {
        "test_labels": feed.eval_labels("test").numpy(),
        "train_counts": np.asarray(parts.split["counts"], dtype=np.int64),
        "test_logits_final": predict(model, feed, method, "test", 4 * batch_size),
    }
    if "val" in feed.eval_sets:
        arrays["val_labels"] = feed.eval_labels("val").numpy()
        arrays["val_logits_final"] = predict(model, feed, method, "val", 4 * batch_size)
    for which, best in state.best.items():
        for name, logits in load_best(out_dir, best).items():
            arrays[f"{name}_logits_best_{which}"] = logits
    with atomic_path(out_dir / "predictions.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    with atomic_path(out_dir / MODEL) as tmp:
        torch.save(model.state_dict(), tmp)
    record = {
        "cell": cell,
        "label": label,
        "run_id": run.run_id,
        **store_record(run.uri, "tracking_uri"),
        "experiment_id": run.experiment_id,
        "device": str(parts.device),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "train_seconds": state.train_seconds,
        "history": state.history,
        "best_epochs": {which: best["epoch"] for which, best in state.best.items()},
        "n_train": len(feed.train_labels),
        "train_acc_clean": clean_train_accuracy(model, feed, 4 * batch_size, method.joint_logits),
    }
    write_json(out_dir / "run.json", record)
    run.finish()
    remove_checkpoint(out_dir)
    return record
