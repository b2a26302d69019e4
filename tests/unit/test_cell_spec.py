"""The resolved cell as a typed contract (ltgrid.cell_spec): every cell of every shipped grid
round-trips through it unchanged (so its folder key is the same whichever form is read), its method
comes with every part filled (the train job fills nothing), and a cell JSON of another version is
refused with its fields named."""

from __future__ import annotations

import pytest

from ltgrid import params
from ltgrid.cell_spec import CellSpec
from ltgrid.errors import ContractError
from ltgrid.methods.spec import filled_spec

GRIDS = ["default", "paper-cifar", "recent-digits", "ablation-digits", "paper-inat"]


@pytest.mark.parametrize("grid", GRIDS)
def test_every_cell_round_trips_through_the_spec(repo_root, monkeypatch, grid):
    monkeypatch.chdir(repo_root)
    config = params.load(f"params/{grid}.yaml", check_files=False)
    for cell in params.cells(config):
        resolved = params.resolve_cell(config, cell)
        spec = params.resolve_spec(config, cell)
        assert spec.to_dict() == resolved and spec.key == params.cell_key(resolved)
        assert cell.path(config["grid"], spec.key).endswith(spec.key)
        assert spec.label.startswith(f"{grid}/{cell.dataset}/rho")
        assert filled_spec(cell.method, spec.method_spec) == spec.method_spec  # filled: a fixed point
        if spec.base_method is not None:
            assert filled_spec(spec.base_method, spec.base_method_spec) == spec.base_method_spec


def test_a_stage_two_spec_names_its_base_and_a_plain_one_has_no_such_field(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    config = params.load("params/paper-cifar.yaml", check_files=False)
    by_method = {c.method: params.resolve_spec(config, c) for c in params.cells(config) if c.rho == "100"}
    assert by_method["crt"].base_method == "ce" and by_method["crt"].base_method_spec is not None
    assert by_method["ce"].base_method is None and "base_method" not in by_method["ce"].to_dict()
    assert by_method["balpoe"].model == "resnet32_experts" and by_method["balpoe"].batch_size == 128


def test_a_cell_of_another_version_is_refused_naming_its_fields(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    config = params.load("params/default.yaml", check_files=False)
    resolved = params.resolve_cell(config, params.cells(config)[0])
    with pytest.raises(ContractError, match=r"unknown \['recipe_v2'\], missing \['recipe'\]"):
        CellSpec.from_dict({**{k: v for k, v in resolved.items() if k != "recipe"}, "recipe_v2": {}})
