"""Sweeps: named, stable, filesystem-safe variants; bad entries refused before any job, by name."""

from __future__ import annotations

import copy

import pytest

from helpers.grids import default_grid, refused
from ltgrid import params
from ltgrid.params import sweeps
from ltgrid.tracking.cell_run import extension_tags

SCHEMA = params.DEFAULT_SCHEMA


@pytest.fixture()
def config(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    grid = default_grid(["ce", "uat"])
    grid["sweeps"] = {"uat": {"base": "unimix", "values": {"mixing.alpha": [0.5, 1.0], "mixing.tau": [-0.5, 0]}}}
    return grid


def test_variants_are_named_by_their_values_and_replace_the_sweep_in_methods(config):
    grid = params.validate(config, SCHEMA)
    assert grid["methods"] == [
        "ce", "uat--alpha_0.5--tau_-0.5", "uat--alpha_0.5--tau_0", "uat--alpha_1--tau_-0.5", "uat--alpha_1--tau_0",
    ]
    spec = params.method_spec(grid, "digits", "uat--alpha_1--tau_-0.5")
    assert spec["mixing"] == {"name": "unimix", "alpha": 1.0, "tau": -0.5}
    assert spec["schedule"] == {"mix_off_last": 0} and spec["loss"] == {"name": "ce"}
    assert {c.method for c in params.cells(grid)} == set(grid["methods"])
    assert params.validate(grid, SCHEMA)["methods"] == grid["methods"]  # expanding twice changes nothing


def test_editing_one_value_leaves_every_other_variant_as_it_was(config):
    before = params.validate(copy.deepcopy(config), SCHEMA)
    config["sweeps"]["uat"]["values"]["mixing.alpha"] = [0.6, 1.0]
    after = params.validate(config, SCHEMA)
    kept = [m for m in before["methods"] if "alpha_1-" in m]
    assert kept and all(m in after["methods"] for m in kept)
    for method in kept:
        cell = params.Cell("digits", "10", 0, method, 0)
        assert params.resolve_cell(before, cell) == params.resolve_cell(after, cell)
    assert "uat--alpha_0.6--tau_0" in after["methods"] and "uat--alpha_0.5--tau_0" not in after["methods"]


@pytest.mark.parametrize(
    "value, text", [(0.5, "0.5"), (1.0, "1"), (-0.5, "-0.5"), (0, "0"), (1e-05, "1e-05"), (True, "true"), ("clip", "clip"),
                    (0.1234567891, "0.1234567891")],
)
def test_values_format_short_and_exact(value, text):
    assert sweeps.format_value(value) == text


def test_two_keys_with_one_argument_name_keep_their_part():
    assert sweeps.key_labels(["mixing.tau", "loss.tau", "mixing.alpha"]) == {
        "mixing.tau": "mixing.tau", "loss.tau": "loss.tau", "mixing.alpha": "alpha"}


def test_dataset_overrides_of_the_base_apply_but_swept_values_win(config):
    config["datasets"]["digits"]["method_overrides"] = {"unimix": {"mixing": {"tau": -0.1, "mode": "clip"}}}
    grid = params.validate(config, SCHEMA)
    spec = params.method_spec(grid, "digits", "uat--alpha_0.5--tau_0")
    assert spec["mixing"] == {"name": "unimix", "alpha": 0.5, "tau": 0, "mode": "clip"}


def test_a_variant_cell_carries_its_swept_values_for_mlflow(config):
    grid = params.validate(config, SCHEMA)
    cell = params.resolve_cell(grid, params.Cell("digits", "10", 0, "uat--alpha_0.5--tau_0", 1))
    assert cell["sweep"] == {"name": "uat", "base": "unimix", "values": {"mixing.alpha": 0.5, "mixing.tau": 0}}
    assert extension_tags(cell) == {"sweep": "uat", "sweep.base": "unimix", "sweep.mixing.alpha": "0.5", "sweep.mixing.tau": "0"}
    plain = params.resolve_cell(grid, params.Cell("digits", "10", 0, "ce", 1))
    assert "sweep" not in plain and "plugins" not in plain and extension_tags(plain) == {}


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda s: s["values"].__setitem__("mixing.alpah", [0.5]),
         "sweeps.uat.values.mixing.alpah[0] = 0.5: method 'unimix': mixing 'unimix': unknown argument(s) 'alpah'"),
        (lambda s: s["values"].__setitem__("mixing.alpha", []), "sweeps.uat.values.mixing.alpha = []"),
        (lambda s: s["values"].__setitem__("mixing.alpha", [0.5, -1]), "sweeps.uat.values.mixing.alpha[1] = -1: "),
        (lambda s: s["values"].__setitem__("mixing.mode", ["wrap", "fold"]), "sweeps.uat.values.mixing.mode[1] = 'fold': "),
        (lambda s: s.__setitem__("base", "unimixx"), "sweeps.uat.base = 'unimixx': unknown method"),
        (lambda s: s.__setitem__("valuse", {}), "sweeps.uat: unknown key(s) ['valuse']"),
        (lambda s: s["values"].__setitem__("alpha", [0.5]), "sweeps.uat.values.alpha: must be a dotted path"),
        (lambda s: s["values"].__setitem__("mixing.mode", ["a b"]), "sweeps.uat.values.mixing.mode[0] = 'a b': a swept string"),
        (lambda s: s["values"].__setitem__("mixing.tau", [0, 0.0]), "sweeps.uat.values.mixing.tau[1] = 0.0: repeats [0]"),
        (lambda s: s["values"].__setitem__("loss.test_prior", [[0.5, 0.5]]), "sweeps.uat.values.loss.test_prior[0] = [0.5, 0.5]"),
    ],
)
def test_bad_sweeps_are_refused_naming_the_entry(config, mutate, expected):
    mutate(config["sweeps"]["uat"])
    message = refused(config)
    assert expected in message, message


def test_a_bad_value_is_reported_once_not_again_per_variant(config):
    config["sweeps"]["uat"]["values"]["mixing.alpha"] = [-1, 0.5]
    message = refused(config)
    assert "\n  - " not in message and message.startswith("invalid params: sweeps.uat") and "uat--" not in message, message


def test_a_sweep_may_not_reuse_a_method_name(config):
    config["sweeps"]["ce"] = {"base": "ce", "values": {"loss.posthoc_tau": [0.5]}}
    assert "sweeps.ce: the name is already a method of method_library" in refused(config)


def test_a_grid_method_spelled_like_a_variant_is_refused_naming_both_entries(config):
    """The grid defines its own `col_g--alpha_0.5` (plain CE) and sweeps `col_g` over UniMix's
    alpha [0.5]: expanding would silently replace the CE entry by UniMix. Refused before any job."""
    config["method_library"]["col_g--alpha_0.5"] = {"description": "my CE", "loss": {"name": "ce"}}
    config["sweeps"] = {"col_g": {"base": "unimix", "values": {"mixing.alpha": [0.5]}}}
    config["methods"] = ["col_g--alpha_0.5", "col_g"]
    message = refused(config)
    assert message == ("invalid params (2 problems):\n  - method_library.col_g--alpha_0.5: defined in the grid, and also the "
                       "name of a variant of sweeps.col_g (values.mixing.alpha[0] = 0.5); rename one of them\n  - "
                       "methods[0] = 'col_g--alpha_0.5': listed twice (also made by the sweep methods[1] = 'col_g')"), message


def test_a_method_listed_twice_is_named_by_its_positions_as_written(config):
    config["methods"] = ["uat", "ce", "bayias", "ce"]  # expanded, the second ce would sit at [7]
    assert refused(config) == "invalid params: methods[3] = 'ce': listed twice (also methods[1])"
    config["methods"] = ["ce", "uat", "uat--alpha_1--tau_0"]
    assert refused(config) == ("invalid params: methods[2] = 'uat--alpha_1--tau_0': listed twice "
                               "(also made by the sweep methods[1] = 'uat')")
    config["methods"] = ["ce"]
    config["datasets"]["digits"]["methods"] = ["uat", "uat"]
    assert refused(config) == "invalid params: datasets.digits.methods[1] = 'uat': listed twice (also datasets.digits.methods[0])"


def test_ratio_overrides_of_the_base_apply_to_its_variants_but_swept_values_win(config):
    config["datasets"]["digits"]["ratio_overrides"] = {50: {"unimix": {"mixing": {"tau": -0.1, "alpha": 2.0}}}}
    grid = params.validate(config, SCHEMA)
    spec = params.method_spec(grid, "digits", "uat--alpha_0.5--tau_0", 50)
    assert spec["mixing"] == {"name": "unimix", "alpha": 0.5, "tau": 0}
    assert params.method_spec(grid, "digits", "unimix", 50)["mixing"]["tau"] == -0.1
