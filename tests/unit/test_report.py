"""Reports: tables (mean ± std, seed counts, protocol labels, shot groups, published vs reproduced),
their four renderings, params/published.yaml, per-cell figures and the MLflow route to the same rows."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ltgrid import cell_files
from ltgrid.evaluate import cell as E
from ltgrid.report import cell_figures as CF
from ltgrid.report import from_mlflow as MT
from ltgrid.tracking import grid as TG
from ltgrid.params import published as P
from ltgrid.report import overlays as O
from ltgrid.report import render as RD
from ltgrid.report import outputs as OUT
from ltgrid.report import rows as ROWS
from ltgrid.report import tables as R
from ltgrid.evaluate.metrics import compute_metrics
from ltgrid.params import ParamsError

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COUNTS = [100, 60, 36, 22, 13, 8, 5, 3, 2, 1]


def _result(method: str, seed: int, rho: float = 10.0, dataset: str = "digits", accuracy: float = 0.6) -> dict:
    """A metrics.json body for one cell, from seeded random predictions with a given accuracy."""
    rng = np.random.default_rng(seed * 100 + len(method))
    labels = np.repeat(np.arange(10), 20)
    pred = np.where(rng.random(labels.size) < accuracy, labels, (labels + 1) % 10)
    probs = np.full((labels.size, 10), 0.02)
    probs[np.arange(labels.size), pred] = 0.82
    protocols = {}
    for name, description in E.PROTOCOLS.items():
        m = compute_metrics(probs, labels, COUNTS, many=40, few=15)
        m["protocol"] = description
        if name != "final":
            m["epoch"] = 2
        protocols[name] = m
    cell = {"grid": "g", "dataset": dataset, "rho": rho, "split_seed": 0, "method": method, "seed": seed,
            "shots": {"many": 40, "few": 15}}
    return json.loads(json.dumps({
        "label": f"g/{dataset}/rho{rho:g}/split0/{method}/seed{seed}", "cell": cell, "run_id": f"r{seed}{method}",
        "train_counts": COUNTS, "protocols": protocols,
    }))


@pytest.fixture
def metrics_files(tmp_path) -> list[Path]:
    """ce with two seeds, unimix_bayias with one, on one (dataset, rho); ce also on rho=50."""
    cells = [("ce", 0, 10.0, 0.5), ("ce", 1, 10.0, 0.7), ("unimix_bayias", 0, 10.0, 0.8), ("ce", 0, 50.0, 0.4)]
    files = []
    for method, seed, rho, acc in cells:
        path = tmp_path / f"{method}_{seed}_{rho:g}" / "metrics.json"
        path.parent.mkdir()
        path.write_text(json.dumps(_result(method, seed, rho, accuracy=acc)))
        files.append(path)
    return files


def _published(text: str) -> P.Published:
    return P.parse(yaml.safe_load(text), "pub.yaml", ["ce", "unimix_bayias", "ldam_drw"])


PUBLISHED = """
sources:
  s1: {cite: "Someone 2021", where: "Table 9 of nowhere", selection: "best epoch on the test set"}
figures:
  - {dataset: digits, rho: 10, method: unimix_bayias, metric: top1_err, value: 12.5, source: s1}
"""


# ---------------------------------------------------------------- params/published.yaml


def test_published_yaml_is_valid_and_matches_paper_md():
    library = yaml.safe_load((ROOT / "params" / "methods.yaml").read_text())["method_library"]
    pub = P.load(ROOT / "params" / "published.yaml", library)
    paper_cifar = yaml.safe_load((ROOT / "params" / "paper-cifar.yaml").read_text())
    assert {f.dataset for f in pub.figures} <= set(paper_cifar["datasets"])
    paper = [f for f in pub.figures if f.source in ("xu2021", "cao2019")]  # the figures read from paper.md
    values = {(f.dataset, f.rho, f.method): f.value for f in paper}
    assert values[("cifar10", "10", "unimix_bayias")] == 10.34
    assert values[("cifar100", "10", "unimix_bayias")] == 38.75
    assert values[("cifar100", "100", "unimix_bayias")] == 54.55
    assert ("cifar10", "100", "unimix_bayias") not in values  # "not confirmed" in paper.md
    assert values[("cifar10", "100", "ldam_drw")] == 22.97
    paper_md = (ROOT.parent / "shared" / "docs" / "paper.md")
    if paper_md.exists():
        text = paper_md.read_text()
        assert all(f"{v:.2f}" in text for v in values.values())
    for fig in paper:
        assert "paper.md" in pub.sources[fig.source].where  # honest about where the number was read
    # MiSLAS: the authors' README tables, stage 2 under `mislas`, stage 1 under `mixup`
    mislas = {(f.dataset, f.rho, f.method, f.metric): f.value for f in pub.figures if f.source == "zhong2021"}
    assert len(mislas) == 24 and "README" in pub.sources["zhong2021"].where
    assert mislas[("cifar10", "100", "mislas", "top1_acc")] == 82.5
    assert mislas[("cifar10", "100", "mislas", "ece")] == 3.66
    assert mislas[("cifar100", "100", "mislas", "ece")] == 4.83
    assert mislas[("cifar10", "10", "mixup", "ece")] == 11.9


@pytest.mark.parametrize(
    "entry, message",
    [
        ("{dataset: d, rho: 10, method: ce, value: 120, source: s1}", "value = 120"),
        ("{dataset: d, rho: 0.5, method: ce, value: 12, source: s1}", "rho = 0.5"),
        ("{dataset: d, rho: 10, method: unimix-bayias, value: 12, source: s1}", "method = 'unimix-bayias'"),
        ("{dataset: d, rho: 10, method: ce, value: 12, source: nope}", "source = 'nope'"),
        ("{dataset: d, rho: 10, method: ce, value: 12, source: s1, table: 2}", "unknown key(s) ['table']"),
        ("{dataset: d, rho: 10, method: ce, metric: f1, value: 12, source: s1}", "metric = 'f1'"),
        ("{dataset: '', rho: 10, method: ce, value: 12, source: s1}", "dataset = ''"),
    ],
)
def test_published_rejects_bad_entries_naming_them(entry, message):
    text = 'sources:\n  s1: {cite: c, where: w, selection: s}\nfigures:\n  - ' + entry + "\n"
    with pytest.raises(ParamsError) as err:
        _published(text)
    assert message in str(err.value) and "figures[0]" in str(err.value)


def test_published_rejects_duplicates_and_sources_without_citation(tmp_path):
    dup = PUBLISHED + "  - {dataset: digits, rho: 10.0, method: unimix_bayias, value: 13, source: s1}\n"
    with pytest.raises(ParamsError, match=r"figures\[1\] repeats figures\[0\]"):
        _published(dup)
    with pytest.raises(ParamsError, match="sources.s1: cite = None"):
        _published("sources:\n  s1: {where: w, selection: s}\n")
    with pytest.raises(ParamsError, match="does not exist"):
        P.load(tmp_path / "missing.yaml")


# ---------------------------------------------------------------- tables


def test_metric_table_mean_std_seed_counts_and_protocol(metrics_files):
    df = ROWS.cell_rows(metrics_files)
    tables = R.build_tables(df, ["unimix_bayias", "ce"], "g", ["final", "best_test"])
    top1 = tables["top1_err_final"]
    assert top1.header == ["method", "digits rho=10", "digits rho=50"]
    assert [row[0] for row in top1.rows] == ["unimix_bayias", "ce"]
    errs = [100 - _result("ce", s, accuracy=a)["protocols"]["final"]["top1_acc"] for s, a in ((0, 0.5), (1, 0.7))]
    ce_10 = f"{np.mean(errs):.2f} ± {np.std(errs, ddof=1):.2f} (2)"
    assert top1.rows[1][1] == ce_10
    assert top1.rows[0][2] == "-"  # unimix_bayias did not run at rho=50
    assert re.fullmatch(r"\d+\.\d\d \(1\)", top1.rows[0][1])  # counts differ, so every cell shows its n
    assert "model selection: final epoch" in top1.caption and "n = 1, 2 seeds" in top1.caption
    assert "TEST set" in tables["ece_best_test"].caption
    agnostic = OUT.agnostic_stems([("digits", "10"), ("digits", "50")])
    assert set(tables) == set(OUT.table_stems(["final", "best_test"])) | set(agnostic)
    assert top1.notes == []  # no training accuracy recorded: no note


def test_training_accuracy_note_means_over_seeds(metrics_files):
    for path, acc in zip(metrics_files, (99.0, 100.0, 80.0, 90.0)):
        result = json.loads(path.read_text())
        result["protocols"]["final"]["train_acc"] = acc
        path.write_text(json.dumps(result))
    df = ROWS.cell_rows(metrics_files)
    notes = R.metric_table(df, "ece", "best_test", ["unimix_bayias", "ce"], "g").notes
    assert notes == ["training accuracy (%) of the final model on its unaugmented training split, mean over seeds: "
                     "digits rho=10: unimix_bayias 80.0, ce 99.5; digits rho=50: ce 90.0"]


def test_uniform_seed_counts_go_in_the_caption_only(metrics_files):
    df = ROWS.cell_rows(metrics_files[:2])
    table = R.metric_table(df, "top1_err", "final", ["ce"], "g")
    assert "n = 2 seeds per cell" in table.caption
    assert re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", table.rows[0][1])
    one = R.metric_table(ROWS.cell_rows(metrics_files[2:3]), "top1_err", "final", ["unimix_bayias"], "g")
    assert "n = 1 seed per cell" in one.caption and "±" not in one.rows[0][1]


def test_shot_table_groups_thresholds_and_class_counts(metrics_files):
    df = ROWS.cell_rows(metrics_files)
    table = R.group_table(df, "shots", "final", ["ce", "unimix_bayias"], "g")
    assert table.header == ["method", "many", "medium", "few", "many", "medium", "few"]
    assert table.flat_header()[1:4] == ["digits rho=10 many", "digits rho=10 medium", "digits rho=10 few"]
    assert "digits: many = more than 40, medium = 15 to 40, few = fewer than 15 training images" in table.notes
    assert "digits rho=10: 2 / 2 / 6 classes per group" in table.notes  # COUNTS: 100, 60 | 36, 22 | rest
    thirds = R.group_table(df, "thirds", "best_test", ["ce"], "g")
    assert thirds.header[1:4] == ["head", "medium", "tail"] and "3 / 4 / 3" in " ".join(thirds.notes)
    assert "[3,7)" in thirds.caption and "TEST set" in thirds.caption


def test_published_table_dash_difference_and_source(metrics_files):
    df = ROWS.cell_rows(metrics_files)
    table = R.published_table(df, _published(PUBLISHED), "final", ["ce", "unimix_bayias"], "g")
    assert table.header == ["dataset", "rho", "method", "published", "reproduced mean ± std (n)", "difference", "source",
                            "reproduced 95% interval", "published inside", "same protocol"]
    rows = {(r[0], r[1], r[2]): r for r in table.rows}
    assert set(rows) == {("digits", "10", "ce"), ("digits", "10", "unimix_bayias"), ("digits", "50", "ce")}
    ce = rows[("digits", "10", "ce")]
    assert ce[3] == "-" and ce[5] == "-" and ce[4].endswith("(2)")
    ub = rows[("digits", "10", "unimix_bayias")]
    reproduced = 100 - _result("unimix_bayias", 0, accuracy=0.8)["protocols"]["final"]["top1_acc"]
    assert ub[3] == "12.50" and ub[4] == f"{reproduced:.2f} (1)" and ub[5] == f"{reproduced - 12.5:+.2f}" and ub[6] == "[s1]"
    assert table.notes == ["[s1] Someone 2021; Table 9 of nowhere; model selection: best epoch on the test set"]
    assert "reproduced model selection: final epoch" in table.caption


def test_renderings_markdown_csv_latex_html(metrics_files):
    df = ROWS.cell_rows(metrics_files)
    table = R.group_table(df, "shots", "final", ["ce", "unimix_bayias"], "g")
    md = RD.to_markdown(table)
    assert md.startswith(f"**{table.caption}**") and "| ce |" in md and "- digits: many" in md
    rows = list(csv.reader(io.StringIO(RD.to_csv(table))))
    assert rows[0][0] == "method" and rows[0][1] == "digits rho=10 many" and len(rows) == 3
    tex = RD.to_latex(table)
    assert r"\toprule" in tex and tex.count(r"\midrule") == 1 and r"\bottomrule" in tex
    assert r"\multicolumn{3}{c}{digits rho=10}" in tex and r"\cmidrule(lr){2-4}" in tex
    assert r"many / medium / few-shot top-1 accuracy (\%)" in tex and r"unimix\_bayias" in tex
    assert "%" not in tex.replace(r"\%", "")  # a bare % would comment out the rest of the line
    page = RD.to_html(table)
    assert '<th colspan="3">digits rho=10</th>' in page and "<td>ce</td>" in page and "<li>digits: many" in page


def test_write_tables_files_and_missing_protocol(metrics_files, tmp_path):
    df = ROWS.cell_rows(metrics_files)
    out = tmp_path / "tables"
    written = R.write_tables(df, out, ["ce", "unimix_bayias"], "g", ["final"], _published(PUBLISHED))
    stems = OUT.table_stems(["final"]) + OUT.agnostic_stems([("digits", "10"), ("digits", "50")])
    expected = {f"{stem}{ext}" for stem in stems for ext in RD.FORMATS} | {"cells.csv"}
    assert {p.name for p in written} == expected == {p.name for p in out.iterdir()}
    cells = pd.read_csv(out / "cells.csv")
    assert list(cells.columns) == ROWS.ROW_COLUMNS and len(cells) == 4 * len(E.PROTOCOLS)
    with pytest.raises(ValueError, match=r"protocol\(s\) \['best_val'\] requested but no cell has them"):
        R.write_tables(df[df["protocol"] != "best_val"], out, ["ce"], "g", ["final", "best_val"])


def test_grid_protocols_follow_validation_split():
    config = yaml.safe_load((ROOT / "params" / "default.yaml").read_text())
    assert OUT.grid_protocols(config) == ["final", "best_val", "best_test"]
    for ds in config["datasets"].values():
        ds["split"]["val_per_class"] = 0
    assert OUT.grid_protocols(config) == ["final", "best_test"]
    imagenet = yaml.safe_load((ROOT / "params" / "paper-imagenet.yaml").read_text())
    assert OUT.grid_protocols(imagenet) == ["final", "best_val", "best_test"]  # the ImageNet_LT_val list
    cifar = yaml.safe_load((ROOT / "params" / "paper-cifar.yaml").read_text())
    assert OUT.grid_protocols(cifar) == ["final", "best_val", "best_test"]  # the held-out test slice
    for ds in cifar["datasets"].values():
        del ds["split"]["test_holdout_per_class"]
    assert OUT.grid_protocols(cifar) == ["final", "best_test"]


# ---------------------------------------------------------------- figures


def test_pooled_bins_weight_by_count():
    a = {"counts": [2, 0], "acc": [1.0, None], "conf": [0.8, None], "edges": [0.0, 0.5, 1.0]}
    b = {"counts": [2, 4], "acc": [0.0, 0.5], "conf": [0.4, 0.9], "edges": [0.0, 0.5, 1.0]}
    pooled = O.pooled_bins([a, b])
    assert pooled["counts"].tolist() == [4, 4]
    assert np.allclose(pooled["acc"], [0.5, 0.5]) and np.allclose(pooled["conf"], [0.6, 0.9])
    with pytest.raises(ValueError, match="different edges"):
        O.pooled_bins([a, {**b, "edges": [0.0, 0.4, 1.0]}])


def test_overlay_png(metrics_files, tmp_path):
    out = O.write_overlay(metrics_files[:3], tmp_path / "fig" / "overlay.png", ["ce", "unimix_bayias"], "g: digits rho=10")
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 1000


def _trained_cell(tmp_path: Path, history: list[dict]) -> Path:
    """A cell folder as `train` leaves it: predictions.npz and run.json."""
    cell_dir = tmp_path / "cell"
    cell_dir.mkdir()
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 5)
    counts = np.array([50, 30, 20, 12, 8, 5, 3, 2, 1, 0])  # the last class has no training image
    np.savez(cell_dir / "predictions.npz", test_labels=labels, train_counts=counts,
             test_logits_final=rng.normal(size=(50, 10)), test_logits_best_test=rng.normal(size=(50, 10)))
    cell = {"grid": "g", "dataset": "digits", "rho": 50.0, "split_seed": 0, "method": "tau_norm", "seed": 0,
            "shots": {"many": 40, "few": 15}}
    run = {"cell": cell, "label": "g/digits/rho50/split0/tau_norm/seed0", "run_id": "x", "history": history,
           "best_epochs": {"test": 1}, "train_acc_clean": 97.5}
    (cell_dir / "run.json").write_text(json.dumps(run))
    return cell_dir


def test_cell_figures_and_per_class_csv(tmp_path):
    history = [
        {"stage": "stage1", "epoch": 0, "lr": 0.1, "train_loss": 2.0, "train_acc": 20.0, "test_acc": 15.0},
        {"stage": "stage1", "epoch": 1, "lr": 0.01, "train_loss": 1.5, "train_acc": 40.0, "test_acc": 30.0},
        {"stage": "tau_norm", "epoch": 0, "test_acc": 33.0},  # no training in a tau-norm stage
    ]
    cell_dir = _trained_cell(tmp_path, history)
    result = E.evaluate_cell(cell_dir)
    assert result["train_counts"][-1] == 0 and set(result["protocols"]) == {"final", "best_test"}
    assert result["protocols"]["final"]["train_acc"] == 97.5 and "train_acc" not in result["protocols"]["best_test"]
    files = CF.write_cell_figures(cell_dir, result)
    assert [p.name for p in files] == list(cell_files.FIGURES.values())
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in files)
    lines = (cell_dir / cell_files.PER_CLASS_CSV).read_text().splitlines()
    assert lines[0] == "class,train_count,acc_final,acc_best_test" and len(lines) == 11 and lines[10].startswith("9,0,")
    assert [r["epoch"] for r in CF.plot_history(history)] == [0, 1, 2]


def test_mlflow_metrics_carry_every_table_metric():
    flat = TG.flat_metrics(_result("ce", 0))
    for protocol in E.PROTOCOLS:
        for key in ("top1_err", "ece", "many_acc", "thirds_tail_acc", "n_classes_few", "n_classes_thirds_head"):
            assert f"{protocol}_{key}" in flat
    assert flat["best_val_epoch"] == 2.0 and "final_epoch" not in flat


# ---------------------------------------------------------------- the MLflow route


def _runs_frame(results: list[dict]) -> pd.DataFrame:
    """What mlflow.search_runs returns for evaluated runs: tags, params, '<protocol>_<metric>' metrics."""
    rows = []
    for i, result in enumerate(results):
        cell = result["cell"]
        row = {"run_id": result["run_id"], "status": "FINISHED", "start_time": pd.Timestamp(1000 + i, unit="s"),
               "tags.grid": "g", "tags.dataset": cell["dataset"], "tags.rho": f"{cell['rho']:g}",
               "tags.split_seed": str(cell["split_seed"]), "tags.method": cell["method"], "tags.seed": str(cell["seed"]),
               "params.shots.many": str(cell["shots"]["many"]), "params.shots.few": str(cell["shots"]["few"])}
        row.update({f"metrics.{k}": v for k, v in TG.flat_metrics(result).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def test_rows_from_runs_equal_rows_from_files(metrics_files, tmp_path):
    results = [json.loads(p.read_text()) for p in metrics_files]
    runs = TG.latest_per_cell(_runs_frame(results), None)
    from_runs = MT.rows_from_runs(runs)
    from_files = ROWS.cell_rows(metrics_files)
    pd.testing.assert_frame_equal(from_runs, from_files)
    a = R.write_tables(from_files, tmp_path / "a", ["ce", "unimix_bayias"], "g")
    b = R.write_tables(from_runs, tmp_path / "b", MT.method_order(None, None, runs), "g")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_latest_run_per_cell_and_grid_spec_filter(metrics_files):
    results = [json.loads(p.read_text()) for p in metrics_files]
    stale = json.loads(json.dumps(results[0]))
    stale["protocols"]["final"]["top1_err"] = 99.0
    frame = _runs_frame([stale] + results)  # the stale run is the older of two for ce/seed0/rho10
    failed = frame.iloc[[1]].assign(status="FAILED", start_time=pd.Timestamp(9999, unit="s"))
    runs = TG.latest_per_cell(pd.concat([frame, failed]), None)
    assert len(runs) == 4 and 99.0 not in set(runs["metrics.final_top1_err"])
    config = {"grid": "g", "seeds": [0, 1], "methods": ["ce"],
              "datasets": {"digits": {"ratios": [10], "split": {"seeds": [0]}}}}
    spec = TG.grid_spec(config)
    assert spec["methods"] == ["ce"] and TG.spec_cells(spec) == {("digits", "10", "0", "ce", "0"), ("digits", "10", "0", "ce", "1")}
    kept = TG.latest_per_cell(frame, spec)
    assert sorted(zip(kept["tags.method"], kept["tags.rho"], kept["tags.seed"])) == [("ce", "10", "0"), ("ce", "10", "1")]
    assert MT.method_order(spec, None, kept) == ["ce"] and MT.method_order(spec, ["x"], kept) == ["x"]
    with pytest.raises(ValueError, match="no evaluated run"):
        TG.latest_per_cell(frame.drop(columns=["metrics.final_top1_err"]), None)


@pytest.mark.parametrize("inherited", [None, "sqlite:////nonexistent/elsewhere.db"])
def test_search_grid_runs_leaves_the_tracking_env_as_it_found_it(tmp_path, monkeypatch, inherited):
    """Child processes read MLFLOW_TRACKING_URI: reading one store must not redirect them."""
    import os

    from ltgrid.tracking.cell_run import CellRun
    from ltgrid.tracking.store import ensure_experiment

    if inherited is None:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", inherited)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id = ensure_experiment(uri, "ltgrid-g", root=tmp_path)
    run = CellRun.create(uri, exp_id, "cell", {"grid": "g", "method": "ce"})
    runs, spec = TG.search_grid_runs(uri, "ltgrid-g", "g")
    assert list(runs["run_id"]) == [run.run_id] and spec is None
    assert os.environ.get("MLFLOW_TRACKING_URI") == inherited


def test_calibration_table_holds_the_suite_per_dataset_and_ratio(metrics_files):
    """Issue 23: ECE, classwise ECE, adaptive ECE, OE and MCE under each (dataset, rho), per protocol."""
    df = ROWS.cell_rows(metrics_files)
    tables = R.build_tables(df, ["unimix_bayias", "ce"], "g", ["final", "best_test"])
    table = tables["calibration_final"]
    assert table.header == ["method"] + ["ECE", "classwise ECE", "adaptive ECE", "OE", "MCE"] * 2
    assert table.spans == [("", 1), ("digits rho=10", 5), ("digits rho=50", 5)]
    ub = _result("unimix_bayias", 0, accuracy=0.8)["protocols"]["final"]
    assert table.rows[0][:6] == ["unimix_bayias"] + [f"{ub[k]:.2f} (1)" for k in ("ece", "classwise_ece", "adaptive_ece", "oe", "mce")]
    assert "calibration errors (%, 15 bins each)" in table.caption and "TEST set" in tables["calibration_best_test"].caption
    assert "equal-mass" in table.notes[0]
    assert {"classwise_ece", "adaptive_ece", "oe"} <= set(df.columns)
