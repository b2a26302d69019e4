"""Per-ratio method overrides: merged last into a cell's spec (so its key changes), checked before any job."""

from __future__ import annotations

import copy

import pytest

from ltgrid import params

SCHEMA = params.DEFAULT_SCHEMA


@pytest.fixture()
def config(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    grid = params.resolve_includes(params.load_yaml("params/default.yaml"))
    grid["methods"] = ["ce", "mixup", "mislas"]
    return grid


def refused(config) -> str:
    with pytest.raises(params.ParamsError) as err:
        params.validate(config, SCHEMA)
    return str(err.value)


def test_a_ratio_override_changes_only_that_ratios_cells_and_their_keys(config):
    before = params.validate(copy.deepcopy(config), SCHEMA)
    config["datasets"]["digits"]["ratio_overrides"] = {50: {"mislas": {"stage2": {"loss": {"head": 0.2}, "classifier_lr_factor": 0.2}}}}
    after = params.validate(config, SCHEMA)
    cells = {(c.rho, c.method): c for c in params.cells(after)}
    spec = params.resolve_cell(after, cells[("50", "mislas")])["method_spec"]["stage2"]
    assert spec["loss"] == {"name": "las", **{**before["method_library"]["mislas"]["stage2"]["loss"], "head": 0.2}}
    assert spec["classifier_lr_factor"] == 0.2
    for key, cell in cells.items():
        same = params.cell_key(params.resolve_cell(before, cell)) == params.cell_key(params.resolve_cell(after, cell))
        assert same == (key != ("50", "mislas")), key
    assert params.method_spec(after, "digits", "mislas", "10") == params.method_spec(after, "digits", "mislas")


def test_a_ratio_override_of_a_base_method_reaches_its_stage2_cells(config):
    """mislas's stage 1 is the mixup cell: mixup changed at rho 10 makes mislas's rho-10 cell new too."""
    before = params.validate(copy.deepcopy(config), SCHEMA)
    config["datasets"]["digits"]["ratio_overrides"] = {10: {"mixup": {"mixing": {"alpha": 0.4}}}}
    after = params.validate(config, SCHEMA)
    cell = params.Cell("digits", "10", 0, "mislas", 0)
    assert params.resolve_cell(after, cell)["base_method_spec"]["mixing"]["alpha"] == 0.4
    assert params.cell_key(params.resolve_cell(before, cell)) != params.cell_key(params.resolve_cell(after, cell))
    other = params.Cell("digits", "50", 0, "mislas", 0)
    assert params.cell_key(params.resolve_cell(before, other)) == params.cell_key(params.resolve_cell(after, other))


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({30: {"mixup": {}}}, "invalid params: datasets.digits.ratio_overrides.30: 30 is not one of the dataset's ratios ['10', '50']"),
        ({"ten": {"mixup": {}}}, "invalid params: datasets.digits.ratio_overrides.ten: 'ten' is not one of the dataset's ratios"),
        ({10: {"mixpu": {}}}, "invalid params: datasets.digits.ratio_overrides.10.mixpu: unknown method; defined: ["),
        ({50: {"mislas": {"stage2": {"loss": {"head": 1.5}}}}},
         "invalid params: datasets.digits.ratio_overrides.50.mislas: method 'mislas': stage2.loss 'las': las head must be "
         "a number in [0, 1), got 1.5"),
        ({50: {"mislas": {"stage2": {"base": "ce"}}}},
         "invalid params: datasets.digits.ratio_overrides.50.mislas.stage2.base = 'ce': a stage-2 method's base is the same"),
        ({50: {"mixup": {"mixing": {"per": "pair"}}}},
         "invalid params: datasets.digits.ratio_overrides.50.mixup: method 'mixup': mixup per 'pair' is not one of batch, sample"),
        ({50: {"mixup": 3}}, "invalid params: datasets.digits.ratio_overrides[50].mixup = 3: 3 is not of type 'object'"),
    ],
)
def test_bad_ratio_overrides_are_refused_naming_key_and_value(config, overrides, expected):
    config["datasets"]["digits"]["ratio_overrides"] = overrides
    message = refused(config)
    assert message.startswith(expected), message


def test_string_ratio_keys_match_too(config):
    config["datasets"]["digits"]["ratio_overrides"] = {"50": {"mixup": {"mixing": {"alpha": 0.3}}}}
    grid = params.validate(config, SCHEMA)
    assert params.method_spec(grid, "digits", "mixup", 50.0)["mixing"]["alpha"] == 0.3
