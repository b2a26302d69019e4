"""The whole pipeline for real: DVC runs Snakemake, which trains, evaluates, tabulates and logs to MLflow.

One tiny digits grid (5 methods x 1 ratio, 3 epochs) runs once through `dvc repro` in a
fresh copy of the project; the tests then read what it left behind.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import copy_project, data_file, run, tiny_grid, write_params

pytestmark = pytest.mark.pipeline
METHODS = ["ce", "bayias", "mixup", "unimix", "unimix_bayias"]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("pipeline") / "project")
    # dvc.yaml tracks params/default.yaml: the tiny grid takes its place in this copy.
    write_params(root / "params" / "default.yaml", tiny_grid(grid="default", methods=METHODS))
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "tiny grid"], root)
    run(["dvc", "repro"], root, timeout=1200)
    return root


def planned_jobs(root: Path, *extra: str) -> list[str]:
    """Rule names of the jobs `snakemake -n` would run."""
    out = run(["snakemake", "-n", "--cores", "1", *extra], root).stdout
    return re.findall(r"^rule (\w+):", out, flags=re.M) + re.findall(r"^localrule (\w+):", out, flags=re.M)


def test_tables_list_every_method(project):
    table = pd.read_csv(project / "results/tables/default/top1_err_final.csv", index_col="method", dtype=str)
    assert list(table.index) == METHODS
    assert list(table.columns) == ["digits rho=10"]
    assert all(re.fullmatch(r"\d+\.\d\d", str(v)) for v in table["digits rho=10"])
    md = (project / "results/tables/default/ece_final.md").read_text()
    assert "model selection: final epoch" in md and all(f"| {m} |" in md for m in METHODS)
    assert (project / "results/tables/default/top1_err_final.tex").read_text().count(r"\midrule") == 1


def test_job_costs_table_has_every_train_and_evaluate_job(project):
    costs = pd.read_csv(project / "results/benchmarks/default/job_costs.csv")
    assert len(costs) == 2 * len(METHODS) and set(costs["job"]) == {"train", "evaluate"}
    assert sorted(costs.loc[costs["job"] == "train", "method"]) == sorted(METHODS)
    assert (costs["wall_s"] > 0).all() and (costs["max_rss_mb"] > 0).all()


def test_metrics_json_beside_predictions(project):
    cell = project / "results/runs/default/digits/rho10/split0/unimix_bayias/seed0"
    metrics = json.loads((cell / "metrics.json").read_text())
    final = metrics["protocols"]["final"]
    assert (cell / "predictions.npz").exists()
    assert abs(final["top1_acc"] + final["top1_err"] - 100) < 1e-9
    assert {"many_acc", "medium_acc", "few_acc", "ece", "mce", "nll"} <= set(final)
    assert metrics["shot_thresholds"]["few"] == "fewer than 15 training images"


def test_mlflow_holds_one_run_per_cell_with_metrics(project):
    from mlflow.tracking import MlflowClient

    from ltgrid.tracking.grid import search_grid_runs

    # Never mlflow.set_tracking_uri here: it exports MLFLOW_TRACKING_URI, and every later
    # test's pipeline (a subprocess) would then log into this store instead of its own.
    uri = f"sqlite:///{project / 'mlflow.db'}"
    runs, _ = search_grid_runs(uri, "ltgrid-default", "default")
    assert len(runs) == len(METHODS)
    assert sorted(runs["tags.method"]) == sorted(METHODS)
    assert runs["metrics.final_top1_err"].notna().all()
    assert runs["metrics.train_loss"].notna().all()
    assert set(runs["tags.rho"]) == {"10"} and set(runs["tags.grid"]) == {"default"}
    assert (runs["params.recipe.epochs"] == "3").all()
    assert runs["tags.git_commit"].str.fullmatch(r"[0-9a-f]{40}").all()
    history = MlflowClient(tracking_uri=uri).get_metric_history(runs["run_id"].iloc[0], "train_loss")
    assert [m.step for m in history] == [0, 1, 2]


def test_second_run_has_nothing_to_do(project):
    out = run(["snakemake", "-n", "--cores", "1"], project).stdout
    assert "Nothing to be done" in out, out
    assert "up to date" in run(["dvc", "status"], project).stdout


def test_changing_one_method_reruns_only_its_cells(project):
    params_file = project / "params" / "default.yaml"
    original = params_file.read_text()
    config = yaml.safe_load(original)
    config["method_library"] = {"mixup": {"mixing": {"alpha": 0.4}}}  # merged over params/methods.yaml
    try:
        write_params(params_file, config)
        out = run(["snakemake", "-n", "--cores", "1"], project).stdout
        trained = re.findall(r"method=(\w+)", out)
        assert set(trained) == {"mixup"}, out
        jobs = planned_jobs(project)
        assert sorted(jobs) == ["all", "evaluate", "reliability_overlay", "tables", "test_agnostic_figure", "train"], jobs
        diff = run(["dvc", "params", "diff"], project).stdout
        assert "method_library.mixup.mixing.alpha" in diff
    finally:
        params_file.write_text(original)


def test_dvc_params_diff_shows_a_changed_ratio(project):
    params_file = project / "params" / "default.yaml"
    original = params_file.read_text()
    config = yaml.safe_load(original)
    config["datasets"]["digits"]["ratios"] = [20]
    try:
        write_params(params_file, config)
        diff = run(["dvc", "params", "diff"], project).stdout
        assert "datasets.digits.ratios" in diff and "[20]" in diff, diff
    finally:
        params_file.write_text(original)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c["methods"].append("nosuch"), "methods[5] = 'nosuch': unknown method"),
        (lambda c: c["datasets"]["digits"].__setitem__("ratios", [0.5]), "datasets.digits.ratios[0] = 0.5"),
    ],
)
def test_bad_params_stop_before_any_job(project, tmp_path, mutate, expected):
    config = tiny_grid(grid="bad")
    mutate(config)
    bad = write_params(tmp_path / "bad.yaml", config)
    proc = run(["snakemake", "--cores", "1", "--configfile", str(bad)], project, check=False)
    assert proc.returncode != 0
    assert expected in proc.stderr + proc.stdout
    assert not (project / "results/runs/bad").exists()


def test_dvc_tracks_data_and_splits(project):
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    outs = {o["path"] for o in lock["stages"]["data"]["outs"]}
    assert outs == {"data/raw", "data/splits"}
    assert all("md5" in o for o in lock["stages"]["data"]["outs"])
    default = yaml.safe_load((project / "params/default.yaml").read_text())
    splits = json.loads(data_file(project, default, "digits", "10").read_text())
    assert splits["counts"] == [100, 77, 59, 46, 35, 27, 21, 16, 12, 10]
