"""The 2021+ methods (issue 24) end to end on digits-LT, through Snakemake and MLflow: LOS (its own
stage-1 model and recipe, then a stage 2 on it), BalPoE (three experts, combined at test time)
and GLMC (two views, its heads), each with its authors' recipe cut to 3 epochs. Every cell is
trained, evaluated and tabulated, and the tables carry a row per method."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import copy_project, run, tiny_grid, write_params
from conftest import cell_dir as grid_cell_dir

pytestmark = pytest.mark.pipeline
METHODS = ["ce", "los_stage1", "los", "balpoe", "glmc"]
SHORT = {"lr_schedule": {"warmup_epochs": 1, "steps": [], "cosine": True}, "epochs": 3}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("recent") / "project")
    config = tiny_grid("recent", epochs=3, methods=METHODS)
    config["datasets"]["digits"]["method_overrides"] = {
        # their recipes, shortened; the CIFAR-sized nets swapped for the digits ones (as params/recent-digits.yaml)
        "los_stage1": {"recipe": SHORT, "model": "digits_cnn"},
        "los": {"stage2": {"epochs": 2}},
        "balpoe": {"recipe": {"epochs": 3, "lr_schedule": {"warmup_epochs": 1, "steps": [{"epoch": 2, "factor": 0.1}]}}},
        "glmc": {"recipe": SHORT, "model": "digits_cnn_glmc"},
    }
    write_params(root / "params" / "recent.yaml", config)
    run(["snakemake", "--cores", "2", "--config", "grid=recent"], root, timeout=1200)
    return root


def cell(root: Path, method: str) -> Path:
    return grid_cell_dir(root, "params/recent.yaml", method)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_evaluates_and_is_logged(project, method):
    folder = cell(project, method)
    metrics = json.loads((folder / "metrics.json").read_text())
    record = json.loads((folder / "run.json").read_text())
    final = metrics["protocols"]["final"]
    assert 0 <= final["top1_err"] <= 100 and 0 <= final["ece"] <= 100
    assert len(final["per_class_acc"]) == 10  # (N, C) logits were saved, whatever the model returns
    epochs = {"los": 2, "ce": 3}.get(method, 3)
    assert [r["stage"] for r in record["history"]][-1] == ("finetune" if method == "los" else "stage1")
    assert len(record["history"]) == epochs
    assert record["cell"]["model"] == {"balpoe": "resnet32_experts", "glmc": "digits_cnn_glmc"}.get(method, "digits_cnn")


def test_los_stage_two_starts_from_its_own_stage_one(project):
    record = json.loads((cell(project, "los") / "run.json").read_text())
    assert record["cell"]["base_method"] == "los_stage1"
    assert record["cell"]["recipe"]["batch_size"] == 64


def test_the_tables_carry_every_method(project):
    table = (project / "results/tables/recent/top1_err_final.md").read_text()
    assert all(f"| {m} |" in table for m in METHODS)
    cells = pd.read_csv(project / "results/tables/recent/cells.csv")
    assert set(cells["method"]) == set(METHODS)
