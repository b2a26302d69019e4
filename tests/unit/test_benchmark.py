"""The benchmark and the GPU check script: the baseline computes what the project computes, the
table is well formed, and benchmarks/gpu_check.sh runs end to end on the CPU at a tiny size.

No timings are asserted: speed is what the scripts print, not a test outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_data  # noqa: E402
import train_bench  # noqa: E402
from conventional import bayias_mixed_loss, per_sample_unimix  # noqa: E402

from ltgrid.methods import build_method  # noqa: E402
from ltgrid.methods.base import MixedBatch  # noqa: E402


def test_baseline_unimix_loop_draws_valid_pairs() -> None:
    counts = np.array([500.0, 50.0, 5.0])
    y = torch.tensor([0, 0, 0, 1, 2, 0, 1, 0])
    x = torch.arange(len(y), dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 3, 2, 2).clone()
    mixed, lam, y_b = per_sample_unimix(x, y, counts, 0.8, -0.5, np.random.default_rng(0))
    assert mixed.shape == x.shape and lam.shape == (len(y),)
    assert bool(((lam >= 0) & (lam < 1)).all())
    for i in range(len(y)):  # each mixed image is lam x_i + (1 - lam) x_j for a j carrying label y_b[i]
        value = float(mixed[i, 0, 0, 0])
        j = (value - float(lam[i]) * i) / (1 - float(lam[i])) if lam[i] < 1 else i
        assert int(y[round(j)]) == int(y_b[i])


def test_baseline_loss_is_the_project_bayias_mixed_loss() -> None:
    """Both pipelines optimise the same objective, so the throughput ratio compares like with like."""
    counts = torch.tensor([400.0, 100.0, 20.0, 5.0], dtype=torch.float64)
    method = build_method("unimix_bayias", bench_data.method_spec("unimix_bayias"), counts)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 4, generator=gen)
    y_a, y_b = torch.randint(0, 4, (16,), generator=gen), torch.randint(0, 4, (16,), generator=gen)
    lam = torch.rand(16, generator=gen)
    ours = method.loss_value(logits, MixedBatch(torch.zeros(16, 1), y_a, y_b, lam))
    log_prior = torch.log(counts / counts.sum()).float()
    torch.testing.assert_close(bayias_mixed_loss(logits, y_a, y_b, lam, log_prior), ours)


def test_lt_split_subset_recounts_classes() -> None:
    y = np.repeat(np.arange(10), 5000)
    full = bench_data.lt_split(y)
    assert len(full["train_indices"]) == 12406
    sub = bench_data.lt_split(y, images=1000)
    assert len(sub["train_indices"]) == 1000 == sum(sub["counts"])
    assert sub["counts"] == np.bincount(y[sub["train_indices"]], minlength=10).tolist()
    with pytest.raises(ValueError, match="empty"):
        bench_data.lt_split(y, images=20)


def test_table_has_a_row_per_pipeline_and_the_ratio() -> None:
    row = {"train_img_per_s": 400.0, "s_per_epoch": 31.0, "eval_s": 9.0, "peak_mb": 1200.0, "data_side_pct": 2.5}
    text = train_bench.table({"conventional": row, "project": {**row, "train_img_per_s": 800.0},
                              "ratio": {"train_img_per_s": 2.0, "s_per_epoch": 0.5, "eval_s": 1.0, "peak_mb": 1.0}})
    lines = text.splitlines()
    assert len(lines) == 4 and "(a) conventional" in lines[1] and "(b) this project" in lines[2]
    assert "2.00x" in lines[3]


@pytest.mark.pipeline  # nine Python processes: about a minute on an idle 2-core machine, minutes when loaded
def test_gpu_check_script_runs_on_the_cpu(tmp_path: Path) -> None:
    """The prepared GPU script, tiny: 1 epoch on 192 images, 100 test images, 2 processes at once."""
    out = tmp_path / "gpu_check"
    env = {
        **os.environ, "GPU_CHECK_EPOCHS": "1", "GPU_CHECK_IMAGES": "192", "GPU_CHECK_TEST_IMAGES": "100",
        "GPU_CHECK_BENCH_EPOCHS": "1", "GPU_CHECK_PROCESSES": "2", "GPU_CHECK_OUT": str(out),
        "OMP_NUM_THREADS": "1", "PYTHON": sys.executable,
    }
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    checks = json.loads((out / "checks.json").read_text())
    assert checks["determinism"]["status"] == "ok"
    assert checks["cuda in use"]["status"] == ("ok" if torch.cuda.is_available() else "skipped")
    bench = json.loads((out / "bench.json").read_text())
    assert bench["project"]["train_images"] == bench["conventional"]["train_images"] == 192
    assert bench["project"]["test_images"] == 100
    assert bench["concurrent"]["processes"] == 2 and len(bench["concurrent"]["results"]) == 2
    assert 0 <= bench["project"]["data_side_pct"] <= 100
    cell = json.loads((out / "cell.json").read_text())
    assert cell["epochs"] == 1 and cell["train_images"] == 192 and 0 <= cell["top1_err"] <= 100
    summary = proc.stdout.split("== summary", 1)[1]
    for key in ("throughput ratio b/a", "data side of a step", "cells / hour", "full cell test metrics"):
        assert key in summary
