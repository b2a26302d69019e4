"""Evaluate one trained cell: predictions.npz -> metrics.json (one block per model-selection protocol).

Protocols: `final` (last epoch, the honest default), `best_val` (epoch with the best accuracy
on the held-out validation split, when the split has one) and `best_test` (epoch chosen on
the test set, as the authors' code did: for comparability only, labelled as such).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ltgrid.io import read_json, write_json
from ltgrid.metrics import compute_metrics

PROTOCOLS = {
    "final": "final epoch",
    "best_val": "best epoch on the validation split",
    "best_test": "best epoch on the TEST set (authors' protocol; optimistic, for comparison only)",
}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def evaluate_cell(cell_dir: str | Path) -> dict[str, Any]:
    """Compute every protocol's metrics for a cell and write metrics.json atomically."""
    cell_dir = Path(cell_dir)
    run = read_json(cell_dir / "run.json")
    cell = run["cell"]
    with np.load(cell_dir / "predictions.npz") as z:
        preds = {k: z[k] for k in z.files}
    labels, counts = preds["test_labels"], preds["train_counts"]
    shots = cell["shots"]
    protocols: dict[str, Any] = {}
    for name, description in PROTOCOLS.items():
        key = f"test_logits_{name}"
        if key not in preds:
            continue
        m = compute_metrics(softmax(preds[key]), labels, counts, many=shots["many"], few=shots["few"])
        m["protocol"] = description
        if name != "final":
            m["epoch"] = run["best_epochs"][name.removeprefix("best_")]
        protocols[name] = m
    result = {
        "label": run["label"],
        "cell": cell,
        "run_id": run["run_id"],
        "shot_thresholds": {
            "many": f"more than {shots['many']} training images",
            "medium": f"{shots['few']} to {shots['many']} training images",
            "few": f"fewer than {shots['few']} training images",
        },
        "protocols": protocols,
    }
    write_json(cell_dir / "metrics.json", result)
    return result


SCALAR_KEYS = ("top1_acc", "top1_err", "many_acc", "medium_acc", "few_acc", "ece", "mce", "nll", "brier")


def mlflow_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Flat metric names for MLflow: '<protocol>_<metric>'."""
    out = {}
    for protocol, m in result["protocols"].items():
        for key in SCALAR_KEYS:
            if m.get(key) is not None:
                out[f"{protocol}_{key}"] = float(m[key])
    return out
