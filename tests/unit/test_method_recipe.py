"""A method may carry its own model and recipe changes (its authors' epochs, batch, augmentation):
they reach the cell's resolved recipe, and a bad one stops the grid before any job, named."""

from __future__ import annotations

import copy

import pytest

from ltgrid import params


@pytest.fixture(scope="module")
def raw(repo_root) -> dict:
    config = params.resolve_includes(params.load_yaml(repo_root / "params/default.yaml"), repo_root)
    config["method_library"]["own"] = {
        "loss": {"name": "ce"}, "model": "resnet20",
        "recipe": {"epochs": 3, "batch_size": 8, "optimizer": {"weight_decay": 5.0e-4},
                   "lr_schedule": {"warmup_epochs": 0, "steps": []}},
    }
    config["method_library"]["own_crt"] = {"loss": {"name": "ce"}, "stage2": {"kind": "crt", "base": "own"}}
    config["methods"] = ["ce", "own", "own_crt"]
    return config


def resolved(config: dict, method: str) -> dict:
    cell = next(c for c in params.cells(config) if c.method == method)
    return params.resolve_cell(config, cell)


def test_a_methods_model_and_recipe_reach_its_cells_only(raw, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    config = params.validate(copy.deepcopy(raw), check_files=False)
    own, ce = resolved(config, "own"), resolved(config, "ce")
    assert own["model"] == "resnet20" and ce["model"] == "digits_cnn"
    assert own["recipe"]["epochs"] == 3 and own["recipe"]["batch_size"] == 8
    # deep-merged: the dataset's lr and momentum stay, the method's weight decay wins
    assert own["recipe"]["optimizer"] == {**ce["recipe"]["optimizer"], "weight_decay": 5.0e-4}
    assert own["recipe"]["augment"] == ce["recipe"]["augment"]
    assert ce["recipe"] == params.recipe(config, "digits")
    # a stage 2 continues its base's network: the base's model, not the dataset's
    assert resolved(config, "own_crt")["model"] == "resnet20"


@pytest.mark.parametrize("change, message", [
    ({"model": "resnet33"}, r"method_library.own \(dataset digits\).model = 'resnet33': unknown model"),
    ({"recipe": {"epochs": 0}}, r"method_library.own \(dataset digits\).recipe: epochs = 0: 0 is less than the minimum of 1"),
    ({"recipe": {"augmnt": {}}}, r"method_library.own \(dataset digits\).recipe: unknown key\(s\) \['augmnt'\]"),
    ({"recipe": {"epochs": 100}}, r"recipe.lr_schedule.steps: epoch 160 is not before epochs = 100"),
    ({"recipe": {"batch_size": 5000}}, r"method_library.own.recipe.batch_size = 5000: larger than the training split "
                                       r"of dataset digits at rho=10 \(403 images\)"),
])
def test_a_bad_method_model_or_recipe_is_named_before_any_job(raw, monkeypatch, repo_root, change, message):
    monkeypatch.chdir(repo_root)
    bad = copy.deepcopy(raw)
    bad["method_library"]["own"] = {"loss": {"name": "ce"}, **change}
    with pytest.raises(params.ParamsError, match=message):
        params.validate(bad, check_files=False)
