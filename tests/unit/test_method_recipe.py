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


@pytest.mark.parametrize("entry, message", [
    ({"loss": {"name": "balpoe"}},
     r"method_library.own \(dataset digits\): loss 'balpoe' reads every expert's logits \(N, K, C\), but model "
     r"'digits_cnn' returns one \(N, C\) logit per image; use model: resnet32_experts"),
    ({"loss": {"name": "ce"}, "model": "resnet32_experts"},
     r"loss 'ce' reads one \(N, C\) logit per image, but model 'resnet32_experts' returns every expert's logits"),
    ({"loss": {"name": "balpoe", "lambdas": [1.0, -1.0]}, "model": "resnet32_experts"},
     r"loss 'balpoe' has 2 lambdas, but model 'resnet32_experts' has 3 experts"),
    ({"loss": {"name": "glmc"}, "mixing": {"name": "glmc"}, "model": "resnet32"},
     r"loss 'glmc' reads GLMC's two classifiers and projection heads, but model 'resnet32' returns one"),
])
def test_a_loss_that_cannot_read_its_models_outputs_is_refused_before_any_job(raw, monkeypatch, repo_root, entry, message):
    """Which outputs a model returns and a loss reads are declared torch-free (models/names.py,
    methods/catalog.py): the mismatch is a params error, not a shape error in the first step."""
    monkeypatch.chdir(repo_root)
    bad = copy.deepcopy(raw)
    bad["method_library"]["own"] = entry
    bad["methods"] = ["own"]
    with pytest.raises(params.ParamsError, match=message):
        params.validate(bad, check_files=False)


def test_a_stage_two_cannot_follow_a_multi_expert_model(raw, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    bad = copy.deepcopy(raw)
    bad["method_library"]["own"] = {"loss": {"name": "balpoe"}, "mixing": {"name": "mixup"}, "model": "resnet32_experts"}
    bad["method_library"]["own_crt"] = {"loss": {"name": "balpoe"}, "stage2": {"kind": "crt", "base": "own"}}
    with pytest.raises(params.ParamsError, match=r"own_crt \(dataset digits\): model 'resnet32_experts' has no single "
                                                  r"\(N, C\) classifier for a decoupled stage 2 to retrain"):
        params.validate(bad, check_files=False)


@pytest.mark.parametrize("augment, message", [
    ({"cutout": 16}, r"recipe.augment.cutout = 16: list-file datasets decode each image"),
    ({"crop_padding": 4}, r"recipe.augment.crop_padding = 4: list-file datasets decode each image and take random-resized"),
    ({"image_size": 224, "eval_resize": 200}, r"recipe.augment.eval_resize = 200: must be at least image_size = 224"),
])
def test_list_file_augmentation_is_checked_before_any_job(repo_root, monkeypatch, augment, message):
    """What the list-file feed cannot do is refused when params load, not when a job builds the feed."""
    monkeypatch.chdir(repo_root)
    config = params.resolve_includes(params.load_yaml(repo_root / "params/paper-imagenet.yaml"), repo_root)
    ds = next(iter(config["datasets"]))
    config["method_library"]["ce"] = {**config["method_library"]["ce"], "recipe": {"augment": augment}}
    with pytest.raises(params.ParamsError, match=rf"method_library.ce \(dataset {ds}\): " + message):
        params.validate(config, check_files=False)
