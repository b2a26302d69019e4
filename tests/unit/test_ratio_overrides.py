"""Per-ratio method overrides: merged last into a cell's spec (so its key changes), checked before any job."""

from __future__ import annotations

import copy

import pytest

from helpers.grids import default_grid, refused
from ltgrid import params

SCHEMA = params.DEFAULT_SCHEMA


@pytest.fixture()
def config(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    return default_grid(["ce", "mixup", "mislas"])


def test_a_ratio_override_changes_only_that_ratios_cells_and_their_keys(config):
    before = params.validate(copy.deepcopy(config), SCHEMA)
    config["datasets"]["digits"]["ratio_overrides"] = {50: {"mislas": {"stage2": {"loss": {"head": 0.2}, "classifier_lr_factor": 0.2}}}}
    after = params.validate(config, SCHEMA)
    cells = {(c.rho, c.method): c for c in params.cells(after)}
    spec = params.resolve_cell(after, cells[("50", "mislas")])["method_spec"]["stage2"]
    written = {"name": "las", **{**before["method_library"]["mislas"]["stage2"]["loss"], "head": 0.2}}
    assert {k: spec["loss"][k] for k in written} == written  # the rest are the loss's filled defaults
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


# (head, tail, classifier lr factor, shift_bn) of MiSLAS's stage-2 configs, dvlab-research/MiSLAS
# config/cifar{10,100}/cifar{10,100}_imb{001,002,01}_stage2_mislas.yaml (rho 100, 50, 10); rho 200
# has no config and keeps rho 100's values (params/paper-cifar.yaml says why)
MISLAS_CONFIGS = {
    ("cifar10", "10"): (0.1, 0.0, 0.2, False), ("cifar10", "50"): (0.2, 0.0, 0.2, False),
    ("cifar10", "100"): (0.3, 0.0, 0.5, False), ("cifar10", "200"): (0.3, 0.0, 0.5, False),
    ("cifar100", "10"): (0.2, 0.0, 0.1, True), ("cifar100", "50"): (0.3, 0.0, 0.1, True),
    ("cifar100", "100"): (0.4, 0.1, 0.2, True), ("cifar100", "200"): (0.4, 0.1, 0.2, True),
}


def test_the_paper_grid_runs_mislas_with_the_authors_per_ratio_values(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    grid = params.load("params/paper-cifar.yaml", check_files=False)
    keys = set()
    for (dataset, rho), (head, tail, factor, shift_bn) in MISLAS_CONFIGS.items():
        cell = params.resolve_cell(grid, params.Cell(dataset, rho, 0, "mislas", 0))
        stage2 = cell["method_spec"]["stage2"]
        assert (stage2["loss"]["head"], stage2["loss"]["tail"], stage2["classifier_lr_factor"], stage2["shift_bn"]) == (
            head, tail, factor, shift_bn), (dataset, rho)
        assert stage2["sampler"] == {"name": "class_cycle", "per_visit": 4, "epoch": "ceil_batches_plus_one", "batch": 128}
        assert stage2["epochs"] == 10 and stage2["lr"] == 0.1 and stage2["loss"]["shape"] == "concave"
        keys.add(params.cell_key(cell))
    assert len(keys) == len(MISLAS_CONFIGS)
