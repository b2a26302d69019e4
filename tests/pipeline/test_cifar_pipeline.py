"""The real CIFAR-10 images through the whole pipeline: image-folder archive -> CIFAR-10-LT
rho=100 subset -> ResNet-32 for 2 epochs on the CPU -> metrics -> a table row per method."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT, cell_dir, copy_project, data_file, run, write_params

pytestmark = pytest.mark.pipeline
ARCHIVE = (ROOT.parent / "shared" / "data" / "cifar10-images.tar.gz").resolve()


@pytest.mark.skipif(not ARCHIVE.exists(), reason=f"the shared CIFAR-10 image archive is not at {ARCHIVE}")
def test_short_cifar10_lt_grid_ends_in_a_table(tmp_path):
    project = copy_project(tmp_path / "project")
    config = yaml.safe_load((ROOT / "params" / "cifar10-short.yaml").read_text())
    config["datasets"]["cifar10"]["source"]["path"] = str(ARCHIVE)
    params_file = write_params(project / "params" / "short.yaml", config)
    run(["snakemake", "--cores", "2", "--configfile", str(params_file)], project, timeout=1500)

    split = json.loads(data_file(project, config, "cifar10", "100").read_text())
    assert split["counts"] == [500, 299, 179, 107, 64, 38, 23, 13, 8, 5]
    table = pd.read_csv(project / "results/tables/cifar10-short/top1_err_final.csv", index_col="method", dtype=str)
    assert list(table.index) == ["ce", "unimix_bayias"]
    assert list(table.columns) == ["cifar10 rho=100"]
    for method in table.index:
        cell = cell_dir(project, params_file, method, dataset="cifar10", rho="100")
        metrics = json.loads((cell / "metrics.json").read_text())["protocols"]["final"]
        assert metrics["num_samples"] == 10_000  # the full balanced CIFAR-10 test set
        # Two epochs on ~1,200 images prove the path, not the method: only sanity here.
        assert 0 <= metrics["top1_err"] <= 100 and 0 <= metrics["ece"] <= 100
        assert len(metrics["per_class_acc"]) == 10
        run_record = json.loads((cell / "run.json").read_text())
        assert [h["epoch"] for h in run_record["history"]] == [0, 1]
