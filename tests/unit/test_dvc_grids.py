"""grids/dvc.yaml keeps the one list of grids: it must name every grid in params/, as its file
names it, with the files each grid includes declared as params (so `dvc status` sees them)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def listed_grids() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "grids" / "dvc.yaml").read_text())["vars"][0]["grids"]


def grid_files() -> dict[str, dict]:
    files = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "params").glob("*.yaml"))}
    return {stem: config for stem, config in files.items() if "grid" in config}


def included(path: str) -> set[str]:
    """Every file a params file includes, transitively."""
    config = yaml.safe_load((ROOT / path).read_text())
    out: set[str] = set()
    for name in config.get("include") or []:
        out |= {name} | included(name)
    return out


def test_every_grid_in_params_is_a_stage_named_as_its_file():
    grids = grid_files()
    assert set(listed_grids()) == set(grids)
    for stem, config in grids.items():
        assert config["grid"] == stem, f"params/{stem}.yaml names grid {config['grid']!r}: stage, file and outputs must agree"


def test_each_stage_declares_every_file_its_grid_includes():
    stage = yaml.safe_load((ROOT / "grids" / "dvc.yaml").read_text())["stages"]["grid"]["do"]
    declared = [next(iter(entry)) for entry in stage["params"]]
    assert declared == ["params/${key}.yaml", "params/methods.yaml", "${item.base}"]
    for name, item in listed_grids().items():
        assert included(f"params/{name}.yaml") <= {"params/methods.yaml", item["base"]}, name


def test_a_bare_dvc_repro_reaches_the_default_grid_only():
    root = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(root) == ["default"]
    assert root["default"]["deps"] == ["results/tables/default/top1_err_final.md"]  # an output of grid@default
