"""Train one cell: resolved recipe in, checkpoint + test predictions + run record out.

Each epoch: the method's sampler orders the split, the feed augments batches on the
device, the method mixes and scores them; then the model is evaluated on the test (and
validation) images, the epoch is logged to MLflow and a checkpoint is written atomically,
so a killed cell resumes where it stopped and continues the same MLflow run.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ltgrid.data.feed import build_feed
from ltgrid.data.splits import read_split
from ltgrid.io import atomic_path, write_json
from ltgrid.methods import build_method
from ltgrid.models import build_model
from ltgrid.optim import build_optimizer, lr_at, set_lr
from ltgrid.tracking import CellRun, git_commit

CHECKPOINT = "checkpoint.pt"


class TrainingError(RuntimeError):
    """A cell cannot go on; the message says which cell, where, and what to change."""


def cell_label(cell: dict[str, Any]) -> str:
    return f"{cell['grid']}/{cell['dataset']}/rho{cell['rho']:g}/split{cell['split_seed']}/{cell['method']}/seed{cell['seed']}"


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def pick_device() -> torch.device:
    """CUDA when present (the GPU lease has already narrowed CUDA_VISIBLE_DEVICES), else CPU."""
    return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


@torch.no_grad()
def predict(model: torch.nn.Module, feed: Any, method: Any, which: str, batch_size: int) -> np.ndarray:
    """Logits used for prediction (after any post-hoc adjustment) for a whole eval set."""
    model.eval()
    out = [method.eval_logits(model(x)).float().cpu() for x, _ in feed.eval_batches(which, batch_size)]
    return torch.cat(out).numpy()


class Progress:
    """A progress bar on a terminal, one plain line per epoch in logs."""

    def __init__(self, total: int, start: int, label: str) -> None:
        self.tty = sys.stderr.isatty()
        self.label = label
        self.bar = None
        if self.tty:
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


def train_cell(
    cell: dict[str, Any],
    data_path: str | Path,
    split_path: str | Path,
    out_dir: str | Path,
    tracking: dict[str, str],
    threads: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) one cell; write predictions.npz and run.json into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = cell["recipe"]
    label = cell_label(cell)
    if threads:
        torch.set_num_threads(threads)
    deterministic = bool(recipe.get("deterministic", True))
    seed_everything(cell["seed"], deterministic)
    device = pick_device()

    split = read_split(split_path)
    channels_last = bool(recipe.get("channels_last", device.type == "cuda"))
    feed = build_feed(str(data_path), split, device, recipe, channels_last)
    counts = torch.tensor(split["counts"], dtype=torch.float64)
    method = build_method(cell["method"], cell["method_spec"], counts).to(device)
    model = build_model(
        cell["model"], feed.num_classes, feed.in_channels, normed_classifier=method.needs_normed_classifier
    ).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model.parameters(), recipe["optimizer"])
    schedule = recipe.get("lr_schedule") or {}
    epochs, batch_size = recipe["epochs"], recipe["batch_size"]
    eval_every = recipe.get("eval_every", 1)
    generator = torch.Generator().manual_seed(cell["seed"])

    ckpt_path = out_dir / CHECKPOINT
    state: dict[str, Any] = {
        "epoch": 0, "history": [], "best": {}, "run_id": None, "train_seconds": 0.0,
    }
    saved = torch.load(ckpt_path, map_location=device, weights_only=False) if ckpt_path.exists() else None
    if saved is not None and saved.get("cell") != cell:
        print(f"[{label}] ignoring a checkpoint written for other params", file=sys.stderr, flush=True)
        saved = None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        state = saved["state"]
        print(f"[{label}] resuming from epoch {state['epoch']}", file=sys.stderr, flush=True)

    if state["run_id"] is None:
        run = CellRun.create(
            tracking["uri"], tracking["experiment_id"], run_name=label.split("/", 1)[1],
            tags={
                "grid": cell["grid"], "dataset": cell["dataset"], "rho": f"{cell['rho']:g}",
                "method": cell["method"], "seed": str(cell["seed"]), "split_seed": str(cell["split_seed"]),
                "cell": label, "git_commit": git_commit(),
            },
        )
        run.log_params(cell)
        state["run_id"] = run.run_id
    else:
        run = CellRun(tracking["uri"], state["run_id"])

    n_train = len(feed.train_labels)
    progress = Progress(epochs, state["epoch"], label)
    try:
        for epoch in range(state["epoch"], epochs):
            t0 = time.perf_counter()
            lr = lr_at(epoch, recipe["optimizer"]["lr"], schedule.get("warmup_epochs", 0), schedule.get("steps", []))
            set_lr(optimizer, lr)
            method.start_epoch(epoch, epochs)
            order = method.sampler.epoch_indices(feed.train_labels, epoch, epochs, generator)
            model.train()
            loss_sum = torch.zeros((), device=device, dtype=torch.float64)
            correct = torch.zeros((), device=device, dtype=torch.int64)
            seen = 0
            for b, start in enumerate(range(0, len(order), batch_size)):
                x, y = feed.train_batch(order[start : start + batch_size], generator)
                batch = method.mix(x, y, generator)
                logits = model(batch.x)
                loss = method.loss_value(logits, batch)
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"{label}: non-finite loss {loss.item()} at epoch {epoch}, batch {b} (lr {lr:g}); "
                        "lower optimizer.lr or check the method's hyperparameters. No metrics were written."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach().double() * len(y)
                correct += (logits.detach().argmax(1) == y).sum()
                seen += len(y)
            record: dict[str, Any] = {
                "epoch": epoch,
                "lr": lr,
                "train_loss": float(loss_sum.item() / max(seen, 1)),
                "train_acc": 100.0 * float(correct.item()) / max(seen, 1),
            }
            state["train_seconds"] += time.perf_counter() - t0
            if (epoch + 1) % eval_every == 0 or epoch == epochs - 1:
                for which in feed.eval_sets:
                    logits_np = predict(model, feed, method, which, 4 * batch_size)
                    acc = 100.0 * float((logits_np.argmax(1) == feed.eval_labels(which).numpy()).mean())
                    record[f"{which}_acc"] = acc
                    best = state["best"].get(which)
                    if best is None or acc > best["acc"]:
                        test_logits = logits_np if which == "test" else predict(model, feed, method, "test", 4 * batch_size)
                        state["best"][which] = {"acc": acc, "epoch": epoch, "test_logits": test_logits}
            state["history"].append(record)
            state["epoch"] = epoch + 1
            run.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=epoch)
            save_checkpoint(ckpt_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "state": state,
                "cell": cell,
            })
            progress.update(record)
    except torch.cuda.OutOfMemoryError:
        raise TrainingError(
            f"{label}: out of GPU memory (batch_size={batch_size}, model={cell['model']}); lower "
            f"recipes.{cell['recipe_name']}.batch_size, or give the job a GPU to itself "
            "(LTGRID_SLOTS_PER_GPU=1)."
        ) from None
    finally:
        progress.close()

    final_test = predict(model, feed, method, "test", 4 * batch_size)
    arrays = {
        "test_labels": feed.eval_labels("test").numpy(),
        "train_counts": np.asarray(split["counts"], dtype=np.int64),
        "test_logits_final": final_test,
    }
    for which, best in state["best"].items():
        arrays[f"test_logits_best_{which}"] = best["test_logits"]
    with atomic_path(out_dir / "predictions.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    record = {
        "cell": cell,
        "label": label,
        "run_id": run.run_id,
        "tracking_uri": tracking["uri"],
        "experiment_id": tracking["experiment_id"],
        "device": str(device),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "train_seconds": state["train_seconds"],
        "history": state["history"],
        "best_epochs": {which: best["epoch"] for which, best in state["best"].items()},
        "n_train": n_train,
    }
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    write_json(out_dir / "run.json", record)
    run.finish()
    ckpt_path.unlink(missing_ok=True)
    return record
