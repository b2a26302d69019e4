"""A finished cell's outputs (ltgrid.cell_files): predictions.npz, model.pt, then run.json last,
each written atomically; a cell is finished once run.json exists."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ltgrid import cell_files as cf
from ltgrid.cell_spec import CellSpec
from ltgrid.io import atomic_path, write_json
from ltgrid.tracking.cell_run import CellRun
from ltgrid.tracking.store import store_record
from ltgrid.train.checkpoint import load_best, remove_checkpoint
from ltgrid.train.parts import CellParts
from ltgrid.train.predict import clean_train_accuracy, eval_batch, predict
from ltgrid.train.state import CellState


def prediction_arrays(out_dir: Path, parts: CellParts, state: CellState, batch_size: int) -> dict[str, np.ndarray]:
    """predictions.npz's arrays: labels, train counts, the final model's logits on every eval set
    and the logits saved at each best epoch."""
    model, feed, method = parts.model, parts.feed, parts.method
    arrays = {
        cf.FORMAT_KEY: np.asarray(cf.PREDICTIONS_FORMAT),
        cf.TRAIN_COUNTS: np.asarray(parts.split["counts"], dtype=np.int64),
    }
    for which in feed.eval_sets:
        arrays[cf.labels_key(which)] = feed.eval_labels(which).numpy()
        arrays[cf.logits_key(which, "final")] = predict(model, feed, method, which, eval_batch(batch_size))
    for selected, best in state.best.items():
        for which, logits in load_best(out_dir, best).items():
            arrays[cf.logits_key(which, f"best_{selected}")] = logits
    return arrays


def write_outputs(out_dir: Path, spec: CellSpec, parts: CellParts, state: CellState, run: CellRun) -> dict[str, Any]:
    batch_size = spec.batch_size
    arrays = prediction_arrays(out_dir, parts, state, batch_size)
    with atomic_path(out_dir / cf.PREDICTIONS) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    with atomic_path(out_dir / cf.MODEL) as tmp:
        torch.save(parts.model.state_dict(), tmp)
    record = {
        "cell": spec.to_dict(),
        "label": spec.label,
        "run_id": run.run_id,
        **store_record(run.uri, "tracking_uri"),
        "experiment_id": run.experiment_id,
        "device": str(parts.device),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "train_seconds": state.train_seconds,
        "history": state.history,
        "best_epochs": {which: best["epoch"] for which, best in state.best.items()},
        "n_train": len(parts.feed.train_labels),
        "train_acc_clean": clean_train_accuracy(parts.model, parts.feed, eval_batch(batch_size), parts.method.joint_logits),
    }
    write_json(out_dir / cf.RUN, record)
    run.finish()
    remove_checkpoint(out_dir)
    return record
