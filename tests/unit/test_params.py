"""Params validation: every bad input stops before any job, with a message naming key and value."""

from __future__ import annotations

import copy

import pytest

from ltgrid import params
from ltgrid.methods.catalog import PARTS

SCHEMA = params.DEFAULT_SCHEMA


@pytest.fixture()
def config(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    return params.resolve_includes(params.load_yaml("params/default.yaml"))


def invalid(config, monkeypatch, repo_root) -> str:
    monkeypatch.chdir(repo_root)
    with pytest.raises(params.ParamsError) as err:
        params.validate(config, SCHEMA)
    return str(err.value)


def test_default_grid_is_valid_and_expands(config):
    params.validate(config, SCHEMA)
    cells = params.cells(config)
    assert len(cells) == 2 * 5  # 2 ratios x 5 methods x 1 seed x 1 split seed
    assert {c.method for c in cells} == {"ce", "bayias", "mixup", "unimix", "unimix_bayias"}
    key = params.cell_key(params.resolve_cell(config, cells[0]))
    assert cells[0].path("default", key) == f"results/runs/default/digits/rho10/split0/ce/seed0/{key}"
    assert len({params.cell_key(params.resolve_cell(config, c)) for c in cells}) == len(cells)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c["methods"].append("nosuch"), "methods[5] = 'nosuch': unknown method"),
        (lambda c: c["datasets"]["digits"]["ratios"].__setitem__(0, 0.5), "datasets.digits.ratios[0] = 0.5"),
        (lambda c: c["recipes"]["digits"].__setitem__("epochs", 0), "recipes.digits.epochs = 0"),
        (lambda c: c["recipes"]["digits"]["optimizer"].__setitem__("lr", -1), "recipes.digits.optimizer.lr = -1"),
        (lambda c: c.__setitem__("seeds", [1.5]), "seeds[0] = 1.5"),
        (lambda c: c.__setitem__("seeds", ["one"]), "seeds[0] = \"one\""),
        (lambda c: c.__setitem__("bogus_key", 1), "unknown key(s) ['bogus_key']"),
        (lambda c: c["datasets"]["digits"].__setitem__("modle", "x"), "datasets.digits: unknown key(s) ['modle']"),
        (lambda c: c["datasets"].__setitem__("nodata", {"source": {"kind": "nosuch"}, "ratios": [10], "model": "digits_cnn", "recipe": "digits"}),
         "datasets.nodata.source.kind = 'nosuch': unknown"),
        (lambda c: c["datasets"]["digits"].__setitem__("model", "resnet9000"), "datasets.digits.model = 'resnet9000'"),
        (lambda c: c["method_library"]["ce"]["loss"].__setitem__("name", "nosuchloss"), "loss.name = 'nosuchloss'"),
        (lambda c: c["method_library"]["unimix"]["mixing"].__setitem__("name", "nosuchmix"), "mixing.name = 'nosuchmix'"),
        (lambda c: c["datasets"]["digits"].__setitem__("normalize", "cifar11"), "datasets.digits.normalize = \"cifar11\""),
        (lambda c: c["datasets"]["digits"]["split"].__setitem__("test_holdout_per_class", 5),
         "test_holdout_per_class and val_per_class both give a validation set"),
    ],
)
def test_bad_params_name_the_key_and_value(config, monkeypatch, repo_root, mutate, expected):
    bad = copy.deepcopy(config)
    mutate(bad)
    message = invalid(bad, monkeypatch, repo_root)
    assert expected in message, message


def test_resolved_cell_carries_normalisation_and_holdout(config):
    config = copy.deepcopy(config)
    cell = params.resolve_cell(config, params.cells(config)[0])
    assert cell["normalize"] == {"name": "split", "mean": None, "std": None} and cell["test_holdout_per_class"] == 0
    config["datasets"]["digits"]["normalize"] = {"mean": [0.5], "std": [0.25]}
    config["datasets"]["digits"]["split"] = {"n_max": 100, "test_holdout_per_class": 5}
    cell = params.resolve_cell(config, params.cells(config)[0])
    assert cell["normalize"]["mean"] == [0.5] and cell["test_holdout_per_class"] == 5
    assert params.split_params(config, "digits") == {"n_max": 100, "val_per_class": 0, "test_holdout_per_class": 5}


def test_resolved_cell_carries_method_overrides(config):
    config = copy.deepcopy(config)
    config["datasets"]["digits"]["method_overrides"] = {"unimix": {"mixing": {"tau": -0.1}}}
    cell = params.Cell("digits", "10", 0, "unimix", 0)
    resolved = params.resolve_cell(config, cell)
    mixing = resolved["method_spec"]["mixing"]
    assert {k: mixing[k] for k in ("name", "alpha", "tau")} == {"name": "unimix", "alpha": 0.8, "tau": -0.1}
    # every part is filled when the grid is read (the train job fills nothing): every declared argument is there
    assert set(mixing) == {"name", *PARTS["mixing"]["unimix"].args}
    assert set(resolved["method_spec"]) >= {"loss", "mixing", "sampler", "schedule", "optimizer", "stage2"}
    assert resolved["rho"] == 10.0 and resolved["recipe"]["epochs"] == config["recipes"]["digits"]["epochs"]


def test_format_rho():
    assert params.format_rho(10) == "10" and params.format_rho(10.0) == "10" and params.format_rho(12.5) == "12.5"


def test_missing_params_file_is_named(tmp_path):
    with pytest.raises(params.ParamsError, match="nope.yaml does not exist"):
        params.load_yaml(tmp_path / "nope.yaml")


def test_includes_merge_under_the_grid(tmp_path):
    (tmp_path / "lib.yaml").write_text("method_library:\n  a: {loss: {name: ce}}\n  b: {loss: {name: focal, gamma: 2}}\n")
    grid = {"include": ["lib.yaml"], "method_library": {"b": {"loss": {"gamma": 1}}}}
    merged = params.resolve_includes(grid, tmp_path)
    assert merged["method_library"] == {"a": {"loss": {"name": "ce"}}, "b": {"loss": {"name": "focal", "gamma": 1}}}
    assert "include" not in merged
    with pytest.raises(params.ParamsError, match="include = 'nope.yaml'"):
        params.resolve_includes({"include": ["nope.yaml"]}, tmp_path)


def test_yaml_syntax_error_is_a_params_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: x\nseeds: [0\nmethods: [ce]\n")
    with pytest.raises(params.ParamsError, match=r"bad.yaml, line 3, column 8: not valid YAML: expected ',' or '\]'"):
        params.load_yaml(bad)


SHIPPED_GRIDS = {"default": 10, "cifar10-short": 2, "calibration-cifar10": 4, "methods-digits": 54, "paper-cifar": 504,
                 "paper-imagenet": 26, "paper-inat": 13,
                 "ablation-unimix": 57, "ablation-digits": 24, "recent-digits": 6}


@pytest.mark.parametrize("name", list(SHIPPED_GRIDS))
def test_every_shipped_grid_is_valid(repo_root, monkeypatch, name):
    """A grid in params/ that fails validation would only be found by the first person to run it."""
    monkeypatch.chdir(repo_root)
    # the paper grids' images are the user's to supply: their paths are not looked for here
    assert len(params.cells(params.load(f"params/{name}.yaml", check_files=False))) == SHIPPED_GRIDS[name]


def test_no_grid_file_is_left_untested(repo_root):
    grids = {p.stem for p in (repo_root / "params").glob("*.yaml")} - {"methods", "published"}
    assert grids == set(SHIPPED_GRIDS)
