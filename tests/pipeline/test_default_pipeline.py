"""The whole pipeline for real: `make run` sets up the checkout's venv and runs DVC, which runs
Snakemake, which trains, evaluates, tabulates and logs to MLflow.

One tiny digits grid (5 methods x 1 ratio, 3 epochs) runs once through `make run` in a fresh
copy of the project; the tests then read what it left behind, and the last one takes the tools
in the order people use them (README "The tools in order").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT, cell_dir, copy_project, data_file, run, tiny_grid, write_params

pytestmark = pytest.mark.pipeline
METHODS = ["ce", "bayias", "mixup", "unimix", "unimix_bayias"]


def in_venv(root: Path) -> dict[str, str]:
    """The environment of a shell where the checkout's venv is active (README: `source .venv/bin/activate`)."""
    return {"PATH": f"{root / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(root / ".venv")}


def make_run(root: Path) -> subprocess.CompletedProcess:
    """The README's first command. Its venv borrows the test run's packages (LTGRID_BASE_VENV), so
    that a second torch is not installed; the checkout's own code goes into its own venv."""
    return run(["make", "run", f"LTGRID_BASE_VENV={Path(sys.executable).parent.parent}"], root, timeout=1800)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("pipeline") / "project")
    # dvc.yaml tracks params/default.yaml: the tiny grid takes its place in this copy.
    write_params(root / "params" / "default.yaml", tiny_grid(grid="default", methods=METHODS))
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "tiny grid"], root)
    out = make_run(root)
    assert "| unimix_bayias |" in out.stdout, out.stdout[-3000:]  # the bare `dvc repro` prints the table
    return root


def planned_jobs(root: Path, *extra: str) -> list[str]:
    """Rule names of the jobs `snakemake -n` would run."""
    out = run(["snakemake", "-n", "--cores", "1", *extra], root).stdout
    return re.findall(r"^rule (\w+):", out, flags=re.M) + re.findall(r"^localrule (\w+):", out, flags=re.M)


def tracked_changes(root: Path) -> list[str]:
    """`git status` lines of tracked files that are modified or deleted (staged or not)."""
    lines = run(["git", "status", "--porcelain"], root).stdout.splitlines()
    return [line for line in lines if not line.startswith("??")]


def cell_folders(root: Path, grid: str = "default") -> dict[str, set[str]]:
    """Each method's cell folders (their keys) under results/runs/<grid>."""
    out: dict[str, set[str]] = {}
    for folder in (root / "results/runs" / grid).glob("*/rho*/split*/*/seed*/*"):
        out.setdefault(folder.parent.parent.name, set()).add(folder.name)
    return out


def test_make_run_leaves_the_tree_clean_and_dvc_up_to_date(project):
    """`make run` changes no tracked file (its dvc.lock files are new, for the user to commit), DVC
    sees the default grid up to date and every other grid as never run, and `dvc repro` trains nothing."""
    assert tracked_changes(project) == [], tracked_changes(project)
    untracked = run(["git", "status", "--porcelain"], project).stdout.split()
    assert "dvc.lock" in untracked and "grids/dvc.lock" in untracked
    assert (project / ".venv/bin/snakemake").exists() and (project / ".venv/bin/dvc").exists()
    stale = stale_stages(project)
    assert set(stale) == never_run(project, "default"), stale
    for changes in stale.values():  # DVC's word for a grid never run: its params are new, its outputs absent
        outs = next(c["changed outs"] for c in changes if "changed outs" in c)
        assert set(outs.values()) == {"deleted"}, changes
    before = cell_folders(project)
    out = run(["dvc", "repro"], project, env=in_venv(project), timeout=600)
    assert "didn't change, skipping" in out.stdout and "rule train" not in out.stdout + out.stderr, out.stdout[-2000:]
    assert cell_folders(project) == before and tracked_changes(project) == []


def test_tables_list_every_method(project):
    table = pd.read_csv(project / "results/tables/default/top1_err_final.csv", index_col="method", dtype=str)
    assert list(table.index) == METHODS
    assert list(table.columns) == ["digits rho=10"]
    assert all(re.fullmatch(r"\d+\.\d\d", str(v)) for v in table["digits rho=10"])
    md = (project / "results/tables/default/ece_final.md").read_text()
    assert "model selection: final epoch" in md and all(f"| {m} |" in md for m in METHODS)
    assert (project / "results/tables/default/top1_err_final.tex").read_text().count(r"\midrule") == 1


def test_job_costs_table_has_every_train_and_evaluate_job(project):
    costs = pd.read_csv(project / "results/tables/default/job_costs.csv")
    assert len(costs) == 2 * len(METHODS) and set(costs["job"]) == {"train", "evaluate"}
    assert sorted(costs.loc[costs["job"] == "train", "method"]) == sorted(METHODS)
    assert (costs["wall_s"] > 0).all() and (costs["max_rss_mb"] > 0).all()


def test_metrics_json_beside_predictions(project):
    cell = cell_dir(project, "params/default.yaml", "unimix_bayias")
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


def stale_stages(root: Path) -> dict[str, list]:
    """`dvc status` as {stage: changes}: every stage DVC would rerun."""
    return json.loads(run(["dvc", "status", "--json"], root).stdout or "{}")


def grid_names(root: Path) -> list[str]:
    """The one list of grids: grids/dvc.yaml's foreach."""
    return list(yaml.safe_load((root / "grids" / "dvc.yaml").read_text())["vars"][0]["grids"])


def never_run(root: Path, *ran: str) -> set[str]:
    """Stages of grids that have not run yet: DVC counts them stale (their outputs do not exist)."""
    return {f"grids/dvc.yaml:grid@{g}" for g in grid_names(root) if g not in ran}


def test_second_run_has_nothing_to_do(project):
    out = run(["snakemake", "-n", "--cores", "1"], project).stdout
    assert "Nothing to be done" in out, out
    assert set(stale_stages(project)) == never_run(project, "default")


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
        assert sorted(jobs) == ["all", "comparison", "evaluate", "grid_run", "job_costs", "reliability_overlay", "tables",
                                "test_agnostic_figure", "train"], jobs
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
    lock = yaml.safe_load((project / "grids" / "dvc.lock").read_text())
    outs = {o["path"]: o for o in lock["stages"]["grid@default"]["outs"]}
    assert set(outs) == {"data/raw/default", "data/splits/default", "results/runs/default", "results/tables/default",
                         "results/figures/default", "results/metrics/default.json"}
    assert all("md5" in out for out in outs.values())  # every output is cached: `dvc push` shares it
    default = yaml.safe_load((project / "params/default.yaml").read_text())
    splits = json.loads(data_file(project, default, "digits", "10").read_text())
    assert splits["counts"] == [100, 77, 59, 46, 35, 27, 21, 16, 12, 10]


# ---------------------------------------------------------------- the grid as one MLflow run

def store_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def test_grid_run_holds_the_tables_and_overlays(project, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from ltgrid.tracking.grid_run import grid_runs

    monkeypatch.chdir(project)  # the project's artifact locations are relative to its root

    client = MlflowClient(tracking_uri=store_uri(project))
    exp = client.get_experiment_by_name("ltgrid-default")
    [grid_run] = grid_runs(store_uri(project), exp.experiment_id, "default")
    assert "grid" not in grid_run.data.tags and grid_run.info.status == "FINISHED"
    tables = {a.path for a in client.list_artifacts(grid_run.info.run_id, "tables")}
    assert {"tables/top1_err_final.md", "tables/ece_final.csv", "tables/cells.csv"} <= tables
    figures = {a.path for a in client.list_artifacts(grid_run.info.run_id, "figures")}
    assert "figures/reliability_digits_rho10.png" in figures
    assert figures == {f"figures/{f.name}" for f in (project / "results/figures/default").glob("*.png")}
    local = client.download_artifacts(grid_run.info.run_id, "tables/top1_err_final.md", str(tmp_path))
    assert Path(local).read_text() == (project / "results/tables/default/top1_err_final.md").read_text()
    summary = json.loads((project / "results/metrics/default.json").read_text())
    assert grid_run.data.metrics["digits_rho10/ce/top1_err"] == summary["ce"]["digits_rho10"]["top1_err"]


def test_each_cell_run_records_its_split_as_a_dataset(project):
    import hashlib

    from ltgrid.tracking.grid import search_grid_runs
    from mlflow.tracking import MlflowClient

    runs, _ = search_grid_runs(store_uri(project), "ltgrid-default", "default")
    split = data_file(project, yaml.safe_load((project / "params/default.yaml").read_text()), "digits", "10")
    client = MlflowClient(tracking_uri=store_uri(project))
    for run_id in runs["run_id"]:
        [dataset_input] = client.get_run(run_id).inputs.dataset_inputs
        dataset = dataset_input.dataset
        assert dataset.name == "digits/rho10_split0"
        assert dataset.digest == hashlib.md5(split.read_bytes()).hexdigest()
        assert json.loads(dataset.source)["split"] == str(split.relative_to(project))


# ---------------------------------------------------------------- a second grid through DVC

SECOND = "second"
SECOND_STAGE = f"grids/dvc.yaml:grid@{SECOND}"
ALPHA_KEY = "method_library.mixup.mixing.alpha"


def cell_metrics(root: Path, method: str, grid: str = SECOND) -> Path:
    return cell_dir(root, f"params/{grid}.yaml", method) / "metrics.json"


def commit(root: Path, message: str) -> None:
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], root)


@pytest.fixture(scope="module")
def second(project) -> Path:
    """A second grid (ce, mixup: 2 cells) added where the grid names live, run through its DVC stage
    with GPUs passed the way a 4-GPU host would (LTGRID_SNAKEMAKE_ARGS, no file edited)."""
    dvc_file = project / "grids" / "dvc.yaml"
    text = dvc_file.read_text()
    line = "      default: {base: params/methods.yaml}\n"
    dvc_file.write_text(text.replace(line, line + f"      {SECOND}: {{base: params/methods.yaml}}\n"))
    config = tiny_grid(grid=SECOND, epochs=2, methods=["ce", "mixup"])
    config["method_library"] = {"mixup": {"mixing": {"alpha": 1.0}}}
    write_params(project / "params" / f"{SECOND}.yaml", config)
    out = run(["dvc", "repro", SECOND_STAGE], project, timeout=1200, env={"LTGRID_SNAKEMAKE_ARGS": "--resources gpu=1"})
    command = f"Command: .*snakemake --cores all --config grid={SECOND} --resources gpu=1\n"
    assert re.search(command, out.stdout + out.stderr), (out.stdout + out.stderr)[:3000]
    commit(project, "second grid")
    return project


def test_an_edit_in_a_second_grid_stales_that_grid_and_reruns_its_method_only(second):
    before = stale_stages(second)
    assert set(before) == never_run(second, "default", SECOND)
    params_file = second / "params" / f"{SECOND}.yaml"
    config = yaml.safe_load(params_file.read_text())
    config["method_library"]["mixup"]["mixing"]["alpha"] = 0.4
    write_params(params_file, config)
    after = stale_stages(second)
    assert set(after) - set(before) == {SECOND_STAGE}, after
    assert {"changed deps": {f"params/{SECOND}.yaml": {"method_library": "modified"}}} in after[SECOND_STAGE], after
    diff = run(["dvc", "params", "diff"], second).stdout
    assert ALPHA_KEY in diff and "0.4" in diff, diff

    ce_mtime = cell_metrics(second, "ce").stat().st_mtime_ns
    mixup_before = set(cell_folders(second, SECOND)["mixup"])
    table = second / f"results/tables/{SECOND}/top1_err_final.md"
    table_mtime = table.stat().st_mtime_ns
    run(["dvc", "repro", SECOND_STAGE], second, timeout=1200)
    assert cell_metrics(second, "ce").stat().st_mtime_ns == ce_mtime, "ce's cell reran"
    assert cell_metrics(second, "mixup").exists() and cell_metrics(second, "mixup").parent.name not in mixup_before
    assert table.stat().st_mtime_ns > table_mtime
    assert set(stale_stages(second)) == never_run(second, "default", SECOND)
    shown = run(["dvc", "metrics", "show", "--json"], second).stdout
    assert "results/metrics/default.json" in shown and f"results/metrics/{SECOND}.json" in shown
    commit(second, "alpha 0.4")


def test_bad_params_fail_dvc_repro_before_any_job_as_snakemake_does(second):
    params_file = second / "params" / f"{SECOND}.yaml"
    original = params_file.read_text()
    config = yaml.safe_load(original)
    config["datasets"]["digits"]["ratios"] = [0.5]
    lock = (second / "grids" / "dvc.lock").read_text()
    try:
        write_params(params_file, config)
        plain = run(["snakemake", "-n", "--cores", "1", "--configfile", str(params_file)], second, check=False)
        message = next(line for line in (plain.stdout + plain.stderr).splitlines() if "datasets.digits.ratios[0] = 0.5" in line)
        proc = run(["dvc", "repro", SECOND_STAGE], second, check=False)
        assert proc.returncode != 0
        assert message.strip() in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
        assert not re.search(r"^(local)?rule \w+:", proc.stdout + proc.stderr, flags=re.M)  # no job was planned
        assert (second / "grids" / "dvc.lock").read_text() == lock
    finally:
        params_file.write_text(original)


def experiment_metrics(show: list) -> dict[str, dict]:
    """{experiment name: its metrics} from `dvc exp show --json`, whatever its nesting."""
    found: dict[str, dict] = {}

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("name") and isinstance(node.get("data"), dict) and "metrics" in node["data"]:
                found[node["name"]] = node["data"]["metrics"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(show)
    return found


def test_dvc_experiments_try_a_hyperparameter_and_compare(second):
    for alpha in ("0.2", "2.0"):
        run(["dvc", "exp", "run", "-n", f"alpha-{alpha}", "-S", f"params/{SECOND}.yaml:{ALPHA_KEY}={alpha}", SECOND_STAGE],
            second, timeout=1200)
    metrics = experiment_metrics(json.loads(run(["dvc", "exp", "show", "--json"], second).stdout))
    assert {"alpha-0.2", "alpha-2.0"} <= set(metrics), metrics.keys()
    mixup = [metrics[name][f"results/metrics/{SECOND}.json"]["data"]["mixup"]["digits_rho10"] for name in ("alpha-0.2", "alpha-2.0")]
    assert mixup[0] != mixup[1], mixup
    ce = [metrics[name][f"results/metrics/{SECOND}.json"]["data"]["ce"]["digits_rho10"] for name in ("alpha-0.2", "alpha-2.0")]
    assert ce[0] == ce[1]  # the other method's cell did not rerun
    table = run(["dvc", "exp", "show", "--only-changed", "--csv"], second).stdout
    assert "alpha-0.2" in table and ALPHA_KEY in table
    commit(second, "after experiments")


def test_plain_mlflow_ui_in_the_moved_project_root_shows_every_run(project, tmp_path):
    from test_mlflow_ui import CHROMIUM, free_port, get_json, mlflow_server, render_runs_page

    moved = tmp_path / "moved-project"
    project.rename(moved)  # artifacts must still open from the new place
    try:
        cmd = ["mlflow", "ui", "--host", "127.0.0.1", "--port", str(free_port())]  # no store named: its default
        with mlflow_server(cmd, moved, tmp_path / "ui.log") as base:
            exp = get_json(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ltgrid-default")["experiment"]
            body = {"experiment_ids": [exp["experiment_id"]], "max_results": 1000}
            runs = get_json(f"{base}/api/2.0/mlflow/runs/search", body)["runs"]
            tags = [{t["key"]: t["value"] for t in r["data"]["tags"]} for r in runs]
            cells = [r for r, t in zip(runs, tags) if t.get("grid") == "default"]
            assert len(cells) == len(METHODS)
            for r in cells:
                with urllib_get(f"{base}/get-artifact?path=metrics.json&run_uuid={r['info']['run_id']}") as resp:
                    assert "protocols" in json.loads(resp.read())
            [grid_run] = [r for r, t in zip(runs, tags) if t.get("ltgrid.grid_run") == "default"]
            with urllib_get(f"{base}/get-artifact?path=tables/top1_err_final.md&run_uuid={grid_run['info']['run_id']}") as resp:
                assert resp.read().decode() == (moved / "results/tables/default/top1_err_final.md").read_text()
            if CHROMIUM is not None:
                names = {r["info"]["run_name"] for r in cells}
                render_runs_page(base, exp["experiment_id"], names, tmp_path / "chromium", tmp_path / "runs.png")
    finally:
        moved.rename(project)


def test_a_moved_project_keeps_logging_into_its_own_store(project, tmp_path):
    """tracking.json and run.json name the project's store as such, not by its old path: after a
    move nothing is stale, and a recomputed cell logs into the moved store (the old path is gone)."""
    moved = tmp_path / "moved-again"
    project.rename(moved)
    try:
        assert planned_jobs(moved) == []
        metrics = cell_metrics(moved, "ce", "default")
        before = json.loads(metrics.read_text())["protocols"]
        metrics.unlink()
        run(["snakemake", "--cores", "1"], moved, timeout=600)
        assert json.loads(metrics.read_text())["protocols"] == before
        from mlflow.tracking import MlflowClient

        run_id = json.loads((metrics.parent / "run.json").read_text())["run_id"]
        history = MlflowClient(tracking_uri=store_uri(moved)).get_metric_history(run_id, "final_top1_err")
        assert len(history) == 2 and all(m.value == pytest.approx(before["final"]["top1_err"]) for m in history)
    finally:
        moved.rename(project)


def urllib_get(url: str):
    import urllib.request

    return urllib.request.urlopen(url, timeout=60)


# ---------------------------------------------------------------- the tools in the order people use them

def trained(output: str) -> list[str]:
    """Methods of the train jobs a Snakemake run's output shows."""
    return re.findall(r"rule train:\n(?:[ \t]+[^\n]*\n)*?[ \t]+wildcards: [^\n]*method=([\w.-]+)", output)


def test_the_tools_in_the_order_people_use_them(project, tmp_path):
    """After `make run` (the fixture; test_make_run_leaves_the_tree_clean_and_dvc_up_to_date): an
    edited method through `dvc exp run` retrains only its cells, a key no job reads retrains
    nothing, `dvc push`; a second fresh clone pulls, `dvc repro` trains nothing and has the
    pusher's tables, and an edit there retrains only the edited method's cells."""
    env = in_venv(project)
    before = cell_folders(project)
    edit = run(["dvc", "exp", "run", "-S", "params/methods.yaml:method_library.unimix.mixing.alpha=0.5"], project,
               env=env, timeout=1200)
    assert trained(edit.stdout + edit.stderr) == ["unimix"], edit.stderr[-3000:]
    after = cell_folders(project)
    assert {m for m in METHODS if after[m] != before[m]} == {"unimix"} and before["unimix"] < after["unimix"]
    relabel = run(["dvc", "exp", "run", "-S", "params/default.yaml:description=relabelled"], project, env=env, timeout=600)
    assert trained(relabel.stdout + relabel.stderr) == [] and "Nothing to be done" in relabel.stdout + relabel.stderr, relabel.stderr[-3000:]
    assert cell_folders(project) == after

    # Share: commit what DVC recorded, push the cached outputs to a remote.
    run(["dvc", "remote", "add", "-d", "store", str(tmp_path / "remote")], project, env=env)
    commit(project, "the grid as run here, shared")
    run(["dvc", "push"], project, env=env, timeout=600)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    assert not (clone / "results").exists() and not (clone / "data").exists()
    run(["dvc", "pull", "grids/dvc.yaml:grid@default"], clone, env=env, timeout=600)
    config = yaml.safe_load((clone / "params/default.yaml").read_text())
    raw = data_file(clone, config, "digits")
    newer = data_file(clone, config, "digits", "10").stat().st_mtime_ns + 10**9
    os.utime(raw, ns=(newer, newer))  # the dataset checked out after its split and cells, as a pull may do
    assert planned_jobs(clone) == [], "a pulled grid must plan nothing"
    again = run(["dvc", "repro"], clone, env=env, timeout=600)
    assert trained(again.stdout + again.stderr) == [] and "didn't change, skipping" in again.stdout, again.stdout[-2000:]
    tables = project / "results/tables/default"
    for path in tables.iterdir():
        assert (clone / "results/tables/default" / path.name).read_bytes() == path.read_bytes(), path.name

    # In the clone (no Snakemake metadata, every file as the pull wrote it), an edit retrains its method only.
    params = yaml.safe_load((clone / "params/methods.yaml").read_text())
    params["method_library"]["mixup"]["mixing"]["alpha"] = 0.3
    write_params(clone / "params/methods.yaml", params)
    edited = run(["dvc", "repro"], clone, env=env, timeout=1200)
    assert trained(edited.stdout + edited.stderr) == ["mixup"], edited.stderr[-3000:]
