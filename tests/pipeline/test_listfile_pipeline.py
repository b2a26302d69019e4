"""A list-file dataset through the real pipeline: prepare, given split, train one epoch of ResNet-10
on the CPU with worker decoding, evaluate, tabulate. Plus the ImageNet-LT grid's dry run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import cell_dir, copy_project, data_file, run, write_params
from helpers.image_lists import TRAIN_COUNTS, make_image_tree, source_params

pytestmark = pytest.mark.pipeline
GRID = "listfile-tiny"
METHODS = ["unimix_bayias"]  # one cell keeps the run near a minute on 2 cores


def tiny_listfile_grid(tree: dict[str, Path]) -> dict:
    return {
        "grid": GRID,
        "include": ["params/methods.yaml"],
        "seeds": [0],
        "methods": METHODS,
        "datasets": {
            "tiny_lt": {
                "source": source_params(tree),
                "ratios": [10],                  # the tree's own 20/2
                "split": {"mode": "given"},
                "shots": {"many": 15, "few": 4},  # 20 | 10, 5 | 2 training images
                "model": "resnet10",
                "recipe": "tiny",
            }
        },
        "recipes": {
            "tiny": {
                "epochs": 1,
                "batch_size": 16,
                "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1.0e-4},
                "augment": {"image_size": 32, "eval_resize": 36, "crop_scale_min": 0.35, "hflip": True},
                "deterministic": True,
            }
        },
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("listfile")
    tree = make_image_tree(base / "data")
    root = copy_project(base / "project")
    write_params(root / "params" / "tiny-listfile.yaml", tiny_listfile_grid(tree))
    run(["snakemake", "--cores", "2", "--configfile", "params/tiny-listfile.yaml"], root, timeout=600,
        env={"LTGRID_LOADER_WORKERS": "2"})
    return root


def test_table_row_for_every_method(project):
    md = (project / f"results/tables/{GRID}/top1_err_final.md").read_text()
    for method in METHODS:
        row = re.search(rf"^\| {method} \| ([0-9.]+) ", md, flags=re.M)
        assert row, md
        assert 0.0 <= float(row.group(1)) <= 100.0
    assert "tiny_lt rho=10" in md


def test_given_split_and_shot_groups_use_the_list_counts(project):
    config = yaml.safe_load((project / "params/tiny-listfile.yaml").read_text())
    split = json.loads(data_file(project, config, "tiny_lt", "10").read_text())
    assert split["counts"] == list(TRAIN_COUNTS) and len(split["train_indices"]) == sum(TRAIN_COUNTS)
    cell = cell_dir(project, "params/tiny-listfile.yaml", "unimix_bayias", dataset="tiny_lt")
    run_record = json.loads((cell / "run.json").read_text())
    assert run_record["n_train"] == sum(TRAIN_COUNTS) and len(run_record["history"]) == 1
    metrics = json.loads((cell / "metrics.json").read_text())
    final = metrics["protocols"]["final"]
    assert {"many_acc", "medium_acc", "few_acc", "ece"} <= set(final)
    assert "best_val" in metrics["protocols"]  # the val list is the validation set


def test_imagenet_grid_plans_every_cell_without_the_images(project):
    out = run(["snakemake", "-n", "--cores", "all", "--resources", "gpu=4", "--configfile", "params/paper-imagenet.yaml"], project).stdout
    config = yaml.safe_load((project / "params/paper-imagenet.yaml").read_text())
    cells = len(config["methods"]) * len(config["datasets"])
    assert re.search(rf"^train\s+{cells}$", out, flags=re.M), out[-2000:]
    assert re.search(r"^prepare_dataset\s+2$", out, flags=re.M)
