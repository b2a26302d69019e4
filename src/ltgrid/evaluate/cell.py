"""Evaluate one trained cell: predictions.npz -> metrics.json (one block per model-selection protocol),
per-class accuracies and the cell's figures.

Protocols: `final` (last epoch, the honest default), `best_val` (epoch with the best accuracy
on the held-out validation split, when the split has one) and `best_test` (epoch chosen on
the test set, as the authors' code did: for comparability only, labelled as such).
With a validation set (held out of the training or of the test images), each protocol also gets
temperature scaling fitted on that protocol's validation logits: ts_temperature and the test
ECE / MCE / NLL / Brier / mean confidence after scaling (ts_*), beside the raw ones.
The final protocol also holds the test-agnostic errors (ta_*, evaluate/test_agnostic.py).
The cell's figures are drawn from metrics.json and run.json by ltgrid.report.cell_figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ltgrid import cell_files as cf
from ltgrid.errors import ContractError
from ltgrid.io import open_npz, read_json, write_json, write_text
from ltgrid.evaluate.metrics import compute_metrics
from ltgrid.evaluate.protocols import PROTOCOLS, TS_KEYS
from ltgrid.evaluate.temperature import fit_temperature, scaled
from ltgrid.evaluate.test_agnostic import agnostic_metrics, trained_log_prior

# What evaluating a cell writes: a train job removes them first (see `clear_evaluation`).
EVALUATION_FILES = (*cf.EVALUATED, cf.benchmark("evaluate"))


def clear_evaluation(cell_dir: str | Path) -> None:
    """Remove a cell's evaluation before it is trained again: a retrain that is killed must
    not leave the old metrics beside new predictions (the workflow would take them as current)."""
    for name in EVALUATION_FILES:
        (Path(cell_dir) / name).unlink(missing_ok=True)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def read_run(cell_dir: str | Path) -> dict[str, Any]:
    """The cell's run.json (what training wrote last): read once per evaluation and passed on."""
    return read_json(Path(cell_dir) / cf.RUN)


def read_predictions(path: Path) -> dict[str, np.ndarray]:
    """Every array of a cell's predictions.npz, its format checked (cell_files: no version is format 1)."""
    with open_npz(path) as z:
        preds = {k: z[k] for k in z.files}
    version = int(preds.pop(cf.FORMAT_KEY, 1))
    if version > cf.PREDICTIONS_FORMAT:
        raise ContractError(f"{path}: predictions format {version}, but this code reads format "
                               f"{cf.PREDICTIONS_FORMAT} at most; update the project or delete the cell to retrain it")
    return preds


def evaluate_cell(cell_dir: str | Path, run: dict[str, Any] | None = None) -> dict[str, Any]:
    """Compute every protocol's metrics for a cell; write per_class_acc.csv and metrics.json atomically."""
    cell_dir = Path(cell_dir)
    run = run if run is not None else read_run(cell_dir)
    cell = run["cell"]
    preds = read_predictions(cell_dir / cf.PREDICTIONS)
    labels, counts = preds[cf.labels_key("test")], preds[cf.TRAIN_COUNTS]
    shots = cell["shots"]
    protocols: dict[str, Any] = {}
    for name, description in PROTOCOLS.items():
        key = cf.logits_key("test", name)
        if key not in preds:
            continue
        m = compute_metrics(softmax(preds[key]), labels, counts, many=shots["many"], few=shots["few"])
        m["protocol"] = description
        if name != "final":
            m["epoch"] = run["best_epochs"][name.removeprefix("best_")]
        val = cf.logits_key("val", name)
        if val in preds:
            m.update(temperature_scaled(preds[key], preds[val], preds[cf.labels_key("val")], labels, counts))
        if name == "final":  # test-agnostic errors for the honest default protocol only
            m.update(agnostic_metrics(preds[key], labels, trained_log_prior(cell.get("method_spec") or {}, len(counts))))
        protocols[name] = m
    if run.get("train_acc_clean") is not None:  # the final model on its own (unaugmented) training split
        protocols["final"]["train_acc"] = float(run["train_acc_clean"])
    result = {
        "label": run["label"],
        "cell": cell,
        "run_id": run["run_id"],
        "shot_thresholds": {
            "many": f"more than {shots['many']} training images",
            "medium": f"{shots['few']} to {shots['many']} training images",
            "few": f"fewer than {shots['few']} training images",
        },
        "train_counts": [int(c) for c in counts],
        "protocols": protocols,
    }
    write_text(cell_dir / cf.PER_CLASS_CSV, per_class_csv(result))
    write_json(cell_dir / cf.METRICS, result)
    return result


def temperature_scaled(
    test_logits: np.ndarray, val_logits: np.ndarray, val_labels: np.ndarray, test_labels: np.ndarray, counts: np.ndarray
) -> dict[str, float]:
    """Temperature fitted on the validation logits of the same model, then the test calibration metrics
    of softmax(z / T) as ts_* (accuracy is unchanged by T). Post hoc: works for any method."""
    t = fit_temperature(val_logits, val_labels)
    m = compute_metrics(softmax(scaled(test_logits, t)), test_labels, counts)
    return {"ts_temperature": t, **{f"ts_{k}": m[k] for k in TS_KEYS}}



def per_class_csv(result: dict[str, Any]) -> str:
    """class, training images, test accuracy (%) under each protocol: one line per class."""
    protocols = list(result["protocols"])
    lines = ["class,train_count," + ",".join(f"acc_{p}" for p in protocols)]
    for c, n in enumerate(result["train_counts"]):
        accs = [result["protocols"][p]["per_class_acc"][c] for p in protocols]
        lines.append(f"{c},{n}," + ",".join("" if a is None else f"{a:.4f}" for a in accs))
    return "\n".join(lines) + "\n"
