"""The shipped ablation grids: valid, expanded as documented, and the CIFAR one on the paper's recipe."""

from __future__ import annotations

import subprocess

import pytest

from ltgrid import params


@pytest.fixture(autouse=True)
def _root(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)


def test_cifar_ablation_is_the_papers_recipe_on_cifar10_lt_rho100():
    grid = params.load("params/ablation-unimix.yaml")
    paper = params.load("params/paper-cifar.yaml")
    # the same dataset entry at rho = 100 only (so without the paper grid's overrides for its other ratios)
    assert grid["recipes"] == paper["recipes"] and grid["datasets"]["cifar10"] == {
        k: v for k, v in paper["datasets"]["cifar10"].items() if k not in ("ratios", "ratio_overrides")} | {"ratios": [100]}
    methods = grid["methods"]
    assert methods[:2] == ["ce", "unimix_bayias"] and len(methods) == 2 + 5 * 3 + 2
    assert "unimix_alpha_tau--alpha_0.8--tau_-0.5" in methods and "unimix_factor--mode_clip" in methods
    assert params.method_spec(grid, "cifar10", "unimix_factor--mode_clip")["mixing"] == {
        "name": "unimix", "alpha": 0.8, "tau": -0.5, "mode": "clip"}
    assert len(params.cells(grid)) == len(methods) * 3


def test_digits_ablation_has_the_same_sweeps_on_the_cpu_grid():
    grid = params.load("params/ablation-digits.yaml")
    assert set(grid["sweeps"]) == set(params.load("params/ablation-unimix.yaml")["sweeps"])
    assert grid["datasets"]["digits"]["ratios"] == [50]
    assert grid["recipes"] == params.load("params/default.yaml")["recipes"]  # the default grid's digits recipe
    assert len(params.cells(grid)) == (2 + 4 + 2) * 3


def test_the_cifar_ablation_plans_with_snakemake_n(repo_root):
    """(the digits one runs for real in tests/pipeline/test_extending.py)"""
    out = subprocess.run(["snakemake", "-n", "--configfile", "params/ablation-unimix.yaml"], cwd=repo_root,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ablation_table" in out.stdout and "ablation_figure" in out.stdout and "comparison" in out.stdout


def test_dvc_params_diff_shows_an_edited_sweep_value(tmp_path):
    """grids/dvc.yaml declares the grid file as params, so an edited swept value is a params change."""
    from conftest import copy_project

    root = copy_project(tmp_path / "project")
    grid = root / "params" / "ablation-digits.yaml"
    text = grid.read_text()
    assert "      mixing.alpha: [0.5, 1.0]\n" in text
    grid.write_text(text.replace("      mixing.alpha: [0.5, 1.0]\n", "      mixing.alpha: [0.5, 1.5]\n"))
    out = subprocess.run(["dvc", "params", "diff"], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(line for line in out.stdout.splitlines() if "mixing.alpha" in line)
    assert line.split()[:2] == ["params/ablation-digits.yaml", "sweeps.unimix_alpha_tau.values.mixing.alpha"]
    assert "[0.5, 1.0]" in line and "[0.5, 1.5]" in line
