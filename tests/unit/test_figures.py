"""Figures: each writes a real, non-empty PNG, atomically, and rejects bad input early."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ltgrid.report import figures as F
from ltgrid.evaluate import calibration as C
from ltgrid.evaluate import metrics as M

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _metrics_json() -> dict:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(60, 10)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.repeat(np.arange(10), 6)
    counts = np.array([500, 300, 180, 110, 70, 40, 25, 15, 8, 5])
    return json.loads(json.dumps(M.compute_metrics(probs, labels, counts))), counts


def _assert_png_only(path: Path, folder: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 1000
    assert sorted(p.name for p in folder.iterdir()) == [path.name]


def test_reliability_diagram_from_metrics_json(tmp_path: Path) -> None:
    m, _ = _metrics_json()
    out = F.reliability_diagram(m["reliability"], tmp_path / "rel.png", "toy")
    _assert_png_only(out, tmp_path)


def test_reliability_diagram_from_numpy_bins_in_new_folder(tmp_path: Path) -> None:
    bins = C.calibration_bins(np.array([0.3, 0.4, 0.9, 0.7]), np.array([1, 0, 1, 0]), n_bins=15)
    folder = tmp_path / "a" / "b"
    out = F.reliability_diagram(bins, folder / "rel.png", "numpy bins")
    _assert_png_only(out, folder)


def test_reliability_overlay(tmp_path: Path) -> None:
    m, _ = _metrics_json()
    other = C.calibration_bins(np.array([0.95, 0.85, 0.6]), np.array([1, 1, 0]))
    out = F.reliability_overlay([("ce", m["reliability"]), ("unimix", other)], tmp_path / "o.png", "overlay")
    _assert_png_only(out, tmp_path)
    with pytest.raises(ValueError, match="at least one"):
        F.reliability_overlay([], tmp_path / "none.png", "x")


def test_per_class_accuracy_plot_skips_untested_classes(tmp_path: Path) -> None:
    m, counts = _metrics_json()
    acc = list(m["per_class_acc"])
    acc[3] = None
    out = F.per_class_accuracy_plot(counts, acc, tmp_path / "pc.png", "per class")
    _assert_png_only(out, tmp_path)


def test_per_class_accuracy_plot_rejects_zero_count(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="class 1 has 0"):
        F.per_class_accuracy_plot([5, 0], [50.0, 20.0], tmp_path / "x.png", "x")
    assert list(tmp_path.iterdir()) == []


def test_training_curves_with_and_without_eval(tmp_path: Path) -> None:
    hist = [
        {"epoch": e, "train_loss": 2.0 / (e + 1), "train_acc": 10.0 * e, "lr": 0.1 * (0.5**e),
         **({"test_acc": 8.0 * e} if e % 2 else {})}
        for e in range(6)
    ]
    out = F.training_curves(hist, tmp_path / "tc.png", "curves")
    _assert_png_only(out, tmp_path)
    plain = [{k: v for k, v in r.items() if k != "test_acc"} for r in hist]
    assert F.training_curves(plain, tmp_path / "tc.png", "plain").stat().st_size > 1000


def test_training_curves_names_missing_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"entry 1 lacks \['lr'\]"):
        F.training_curves([{"epoch": 0, "train_loss": 1, "train_acc": 0, "lr": 0.1},
                           {"epoch": 1, "train_loss": 1, "train_acc": 0}], tmp_path / "t.png", "t")


def test_failed_render_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(F.Figure, "savefig", boom)
    bins = C.calibration_bins(np.array([0.5, 0.9]), np.array([1, 0]))
    with pytest.raises(RuntimeError, match="render failed"):
        F.reliability_diagram(bins, tmp_path / "rel.png", "x")
    assert list(tmp_path.iterdir()) == []
