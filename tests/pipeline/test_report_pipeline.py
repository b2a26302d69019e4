"""Reports for real: a tiny grid (2 methods x 2 seeds, one ratio) through Snakemake, then the
tables, figures, MLflow artifacts, `snakemake --report` and `tables-from-mlflow` it leaves.

The grid runs once per session (`report_project`, cached on disk so that test_mlflow_ui.py
reuses the same run) in a fresh copy of the project.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import cell_dir, copy_project, run, tiny_grid, write_params

pytestmark = pytest.mark.pipeline
GRID = "reports"
METHODS = ["ce", "unimix_bayias"]
SEEDS = [0, 1]
PROTOCOLS = ["final", "best_val", "best_test"]
CELL_FIGURES = ["reliability.png", "per_class_acc.png", "training_curves.png"]
# A made-up published figure for the digits cell, so the published table has a number to compare.
DIGITS_FIGURE = {"dataset": "digits", "rho": 10, "method": "unimix_bayias", "metric": "top1_err", "value": 12.5,
                 "source": "test"}


def build_report_project(base: Path) -> Path:
    """Run the tiny grid and the HTML report once under `base`; later calls reuse the finished copy."""
    root = base / "report-grid" / "project"
    done = root / "results" / ".report-grid-done"
    if done.exists():
        return root
    shutil.rmtree(root.parent, ignore_errors=True)  # a build that failed half-way starts over
    copy_project(root)
    config = tiny_grid(grid=GRID, epochs=2, methods=METHODS)
    config["seeds"] = SEEDS
    write_params(root / "params" / "reports.yaml", config)
    published = yaml.safe_load((root / "params" / "published.yaml").read_text())
    published["sources"]["test"] = {"cite": "a test", "where": "tests/pipeline", "selection": "final epoch"}
    published["figures"].append(DIGITS_FIGURE)
    write_params(root / "params" / "published.yaml", published)
    run(["snakemake", "--cores", "2", "--configfile", "params/reports.yaml"], root, timeout=1500)
    run(["snakemake", "--cores", "1", "--configfile", "params/reports.yaml", "--report", "results/report.html"], root)
    done.write_text("ok\n")
    return root


@pytest.fixture(scope="session")
def report_project(tmp_path_factory) -> Path:
    return build_report_project(tmp_path_factory.getbasetemp())


def cell_dirs(root: Path) -> list[Path]:
    return [cell_dir(root, "params/reports.yaml", m, seed=s) for m in METHODS for s in SEEDS]


def test_tables_label_protocols_and_count_seeds(report_project):
    tables = report_project / "results/tables" / GRID
    for protocol in PROTOCOLS:
        for kind in ("top1_err", "ece", "shots", "thirds", "published"):
            for ext in (".md", ".csv", ".tex", ".html"):
                assert (tables / f"{kind}_{protocol}{ext}").stat().st_size > 0
    label = {"final": "model selection: final epoch", "best_val": "best epoch on the validation split",
             "best_test": "best epoch on the TEST set (authors' protocol; optimistic, for comparison only)"}
    for protocol in PROTOCOLS:
        md = (tables / f"top1_err_{protocol}.md").read_text()
        assert label[protocol] in md and "n = 2 seeds per cell" in md
    top1 = pd.read_csv(tables / "top1_err_final.csv", index_col="method", dtype=str)
    assert list(top1.index) == METHODS and list(top1.columns) == ["digits rho=10"]
    assert all(re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", v) for v in top1["digits rho=10"])
    tex = (tables / "ece_final.tex").read_text()
    assert r"\toprule" in tex and r"$\pm$" in tex and r"(\%, 15 equal-width bins" in tex


def test_shot_group_table(report_project):
    shots = pd.read_csv(report_project / f"results/tables/{GRID}/shots_final.csv", index_col="method", dtype=str)
    assert list(shots.columns) == ["digits rho=10 many", "digits rho=10 medium", "digits rho=10 few"]
    md = (report_project / f"results/tables/{GRID}/shots_final.md").read_text()
    assert "digits: many = more than 40, medium = 15 to 40, few = fewer than 15 training images" in md
    tex = (report_project / f"results/tables/{GRID}/shots_final.tex").read_text()
    assert r"\multicolumn{3}{c}{digits rho=10}" in tex


def test_temperature_scaling_table(report_project):
    """Each cell fits T on its validation split; the table shows ECE and NLL before and after, as the cells say."""
    table = pd.read_csv(report_project / f"results/tables/{GRID}/temperature_final.csv", index_col="method", dtype=str)
    assert list(table.columns) == [f"digits rho=10 {c}" for c in ("ECE", "ECE after TS", "NLL", "NLL after TS", "T")]
    for method in METHODS:
        finals = [json.loads((d / "metrics.json").read_text())["protocols"]["final"] for d in cell_dirs(report_project)
                  if d.parent.parent.name == method]
        for column, key in (("ECE after TS", "ts_ece"), ("NLL", "nll"), ("T", "ts_temperature")):
            mean = sum(m[key] for m in finals) / len(finals)
            assert float(table.loc[method, f"digits rho=10 {column}"].split(" ")[0]) == pytest.approx(mean, abs=0.006)
    assert "temperature scaling" in (report_project / f"results/tables/{GRID}/temperature_best_val.md").read_text()


def test_test_agnostic_table_and_figure(report_project):
    """Per (dataset, rho): error on re-sampled forward / uniform / backward test sets, a row per method
    plus Bayias with its test prior matched; the values are the cells' means; a figure beside it."""
    table = pd.read_csv(report_project / f"results/tables/{GRID}/test_agnostic_digits_rho10.csv", index_col="method", dtype=str)
    assert list(table.index) == ["ce", "unimix_bayias", "unimix_bayias + p_test = test prior"]
    assert table.columns[0] == "forward 50" and table.columns[5] == "uniform" and table.columns[-1] == "backward 50"
    finals = [json.loads((d / "metrics.json").read_text())["protocols"]["final"] for d in cell_dirs(report_project)
              if d.parent.parent.name == "unimix_bayias"]
    for column, key in (("forward 10", "ta_forward10_top1_err"), ("backward 50", "ta_backward50_top1_err")):
        mean = sum(m[key] for m in finals) / len(finals)
        assert float(table.loc["unimix_bayias", column].split(" ")[0]) == pytest.approx(mean, abs=0.006)
    uniform = sum(m["top1_err"] for m in finals) / len(finals)  # the balanced test set itself
    assert float(table.loc["unimix_bayias + p_test = test prior", "uniform"].split(" ")[0]) == pytest.approx(uniform, abs=0.006)
    figure = report_project / f"results/figures/{GRID}/test_agnostic_digits_rho10.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_published_vs_reproduced(report_project):
    table = pd.read_csv(report_project / f"results/tables/{GRID}/published_best_test.csv", dtype=str)
    rows = {r["method"]: r for _, r in table.iterrows()}
    assert set(rows) == set(METHODS)
    assert rows["ce"]["published"] == "-" and rows["ce"]["difference"] == "-"
    ub = rows["unimix_bayias"]
    reproduced = ub["reproduced mean ± std (n)"]
    assert ub["published"] == "12.50" and reproduced.endswith("(2)") and ub["source"] == "[test]"
    assert float(ub["difference"]) == pytest.approx(float(reproduced.split(" ")[0]) - 12.5, abs=0.011)
    md = (report_project / f"results/tables/{GRID}/published_best_test.md").read_text()
    assert "- [test] a test; tests/pipeline; model selection: final epoch" in md


def test_figures_on_disk_and_in_mlflow(report_project, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(report_project)  # the project's artifact locations are relative to its root

    overlay = report_project / f"results/figures/{GRID}/reliability_digits_rho10.png"
    assert overlay.read_bytes()[:4] == b"\x89PNG"
    client = MlflowClient(tracking_uri=f"sqlite:///{report_project / 'mlflow.db'}")
    for cell in cell_dirs(report_project):
        for name in CELL_FIGURES:
            assert (cell / name).read_bytes()[:4] == b"\x89PNG"
        run_id = json.loads((cell / "run.json").read_text())["run_id"]
        assert {a.path for a in client.list_artifacts(run_id)} >= {"metrics.json", "per_class_acc.csv", "figures"}
        assert {a.path for a in client.list_artifacts(run_id, "figures")} == {f"figures/{n}" for n in CELL_FIGURES}
    assert mlflow  # the full package (not skinny) is what the server tests need


def test_snakemake_html_report(report_project):
    page = (report_project / "results/report.html").read_text()
    for name in ["top1_err_final.html", "ece_best_test.html", "shots_final.html", "published_final.html",
                 "temperature_final.html", "test_agnostic_digits_rho10.html", "test_agnostic_digits_rho10.png",
                 "reliability_digits_rho10.png", *CELL_FIGURES]:
        assert name in page, name
    for text in ["Tables", "Figures", "Cell figures", "model selection: final epoch", "Published vs reproduced"]:
        assert text in page, text


def test_tables_from_mlflow_match_the_file_tables(report_project, tmp_path):
    out = tmp_path / "from-mlflow"
    proc = run(["python", "-m", "ltgrid", "tables-from-mlflow", "--grid", GRID, "--out-dir", str(out)], report_project)
    assert f"{len(METHODS) * len(SEEDS)} runs of 'ltgrid-{GRID}'" in proc.stdout
    files = report_project / "results/tables" / GRID
    # every table but the job costs, which come from Snakemake's benchmark files, not from MLflow
    names = sorted(p.name for p in files.iterdir() if not p.name.startswith("job_costs."))
    assert names == sorted(p.name for p in out.iterdir())
    for name in names:
        assert (out / name).read_text() == (files / name).read_text(), name
