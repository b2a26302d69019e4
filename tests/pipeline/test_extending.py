"""docs/extending.md, run for real: a plugin loss written into the project copy, a digits grid
with a two-parameter sweep (params/ablation-digits.yaml) plus the plugin's method, through
Snakemake and MLflow; then the variants' cells and runs, the ablation table and figure, the
comparison tables, and what an edit reruns.

Every bash block of the doc runs, in order, in one fresh copy of the project whose digits
recipe is cut to 2 epochs and the ablation grid to 2 seeds (18 cells).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT, copy_project, run, tiny_grid, write_params
from conftest import cell_dir as grid_cell_dir

pytestmark = pytest.mark.pipeline
GRID = "beat-digits"
SEEDS = [0, 1]
PLUGIN = "unimix_bayias_ls"
ALPHA_TAU = [f"unimix_alpha_tau--alpha_{a}--tau_{t}" for a in ("0.5", "1") for t in ("-1", "0")]
FACTOR = ["unimix_factor--mode_wrap", "unimix_factor--mode_clip"]
METHODS = ["ce", "unimix_bayias", PLUGIN, *ALPHA_TAU, *FACTOR]
DIFFERENCE = re.compile(r"[+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\]( \*)?")


def doc_blocks() -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", (ROOT / "docs" / "extending.md").read_text(), re.S | re.M)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, list[str]]:
    root = copy_project(tmp_path_factory.mktemp("extending") / "project")
    write_params(root / "params" / "default.yaml", tiny_grid(grid="default", epochs=2, ratios=(10, 50)))
    ablation = yaml.safe_load((root / "params" / "ablation-digits.yaml").read_text())
    write_params(root / "params" / "ablation-digits.yaml", {**ablation, "seeds": SEEDS})
    outputs = [run(["bash", "-euo", "pipefail", "-c", block], root, timeout=2400).stdout for block in doc_blocks()]
    return root, outputs


def cell_dir(root: Path, method: str, seed: int) -> Path:
    return grid_cell_dir(root, f"params/{GRID}.yaml", method, rho="50", seed=seed)


def planned_trains(root: Path) -> set[tuple[str, int]]:
    """(method, seed) of every train job `snakemake -n` would run now."""
    out = run(["snakemake", "-n", "--configfile", f"params/{GRID}.yaml"], root).stdout
    jobs = set()
    for block in re.split(r"\n(?=rule \w+:)", out):
        if block.startswith("rule train:"):
            wildcards = re.search(r"wildcards: (.*)", block).group(1)
            fields = dict(item.split("=", 1) for item in wildcards.split(", "))
            jobs.add((fields["method"], int(fields["seed"])))
    return jobs


def test_the_docs_commands_run_and_print_the_tables(project):
    _, outputs = project
    assert len(outputs) == 3  # write the plugin; write the grid and validate it; run and print the tables
    assert "valid; 18 cells" in outputs[1]
    assert "difference from unimix_bayias" in outputs[2] and "ablation unimix_alpha_tau" in outputs[2]


def test_every_variant_is_a_cell_of_its_own(project):
    root, _ = project
    for method in METHODS:
        for seed in SEEDS:
            assert (cell_dir(root, method, seed) / "metrics.json").exists(), (method, seed)


def test_variant_and_plugin_runs_carry_their_values_in_mlflow(project):
    from mlflow.tracking import MlflowClient

    root, _ = project
    info = yaml.safe_load((root / f"results/runs/{GRID}/tracking.json").read_text())
    client = MlflowClient(tracking_uri=info["uri"])
    runs = client.search_runs([info["experiment_id"]], max_results=1000)
    by_method = {}
    for r in runs:
        if "cell" in r.data.tags:  # the grid's own run (tables, overlays) is no cell's
            by_method.setdefault(r.data.tags["method"], []).append(r)
    assert sorted(by_method) == sorted(METHODS) and all(len(v) == len(SEEDS) for v in by_method.values())
    for r in by_method["unimix_alpha_tau--alpha_0.5--tau_-1"]:
        assert r.data.tags["sweep"] == "unimix_alpha_tau" and r.data.tags["sweep.mixing.alpha"] == "0.5"
        assert r.data.tags["sweep.mixing.tau"] == "-1.0"
        assert r.data.params["sweep.values.mixing.alpha"] == "0.5" and r.data.params["method_spec.mixing.tau"] == "-1.0"
    for r in by_method[PLUGIN]:
        assert r.data.tags["plugins"] == "plugins.bayias_ls" and r.data.params["method_spec.loss.name"] == "bayias_ls"
    assert "plugins" not in by_method["ce"][0].data.tags and "sweep" not in by_method["ce"][0].data.tags


def test_ablation_tables_and_figures(project):
    root, _ = project
    table = pd.read_csv(root / f"results/tables/{GRID}/ablation_unimix_alpha_tau.csv", dtype=str)
    assert list(table.columns) == ["dataset", "rho", "mixing.alpha", "mixing.tau", "top-1 error (%)", "ECE (%)"]
    assert list(zip(table["mixing.alpha"], table["mixing.tau"])) == [("0.5", "-1"), ("0.5", "0"), ("1", "-1"), ("1", "0")]
    assert all(re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", v) for v in table["top-1 error (%)"])
    assert "n = 2 seeds" in (root / f"results/tables/{GRID}/ablation_unimix_alpha_tau.md").read_text()
    factor = pd.read_csv(root / f"results/tables/{GRID}/ablation_unimix_factor.csv", dtype=str)
    assert list(factor["mixing.mode"]) == ["wrap", "clip"]
    for sweep in ("unimix_alpha_tau", "unimix_factor"):
        png = root / f"results/figures/{GRID}/ablation_{sweep}/digits_rho50.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_comparison_tables_against_both_references(project):
    root, _ = project
    for reference in ("ce", "unimix_bayias"):
        table = pd.read_csv(root / f"results/tables/{GRID}/compare_{reference}_final.csv", dtype=str)
        assert list(table["method"]) == [m for m in METHODS if m != reference]
        assert list(table.columns[1:]) == ["digits rho=50 top-1 error", "digits rho=50 ECE"]
        assert all(DIFFERENCE.fullmatch(v) for col in table.columns[1:] for v in table[col]), table
    md = (root / f"results/tables/{GRID}/compare_unimix_bayias_best_test.md").read_text()
    assert "paired Student t" in md and "n = 2 paired seeds" in md


def test_edits_rerun_exactly_the_cells_they_concern(project):
    root, _ = project
    assert planned_trains(root) == set()
    grid_file = root / "params" / "ablation-digits.yaml"
    before = grid_file.read_text()
    edited = yaml.safe_load(before)
    edited["sweeps"]["unimix_alpha_tau"]["values"]["mixing.alpha"] = [0.5, 1.5]  # was [0.5, 1.0]
    write_params(grid_file, edited)
    assert planned_trains(root) == {(f"unimix_alpha_tau--alpha_1.5--tau_{t}", s) for t in ("-1", "0") for s in SEEDS}
    grid_file.write_text(before)
    assert planned_trains(root) == set()
    plugin = root / "plugins" / "bayias_ls.py"
    source = plugin.read_text()
    assert '"""epsilon = 0 is Bayias."""' in source
    plugin.write_text(source.replace('"""epsilon = 0 is Bayias."""', '"""epsilon = 0 is Bayias (edited)."""'))
    assert planned_trains(root) == {(PLUGIN, s) for s in SEEDS}
