"""One mechanism for part arguments: methods/catalog.py declares them (torch-free), the
registries build from it, and checking a grid's params never imports torch."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

from ltgrid import params
from ltgrid.errors import PartError
from ltgrid.methods import catalog
from ltgrid.methods.spec import method_parts


@pytest.mark.parametrize("family", ["loss", "mixing", "sampler"])
def test_every_builtin_part_in_the_table_imports_and_takes_exactly_its_declared_arguments(family):
    """The table is the registration: each built-in's factory ("module:attr") is imported when first
    asked for; this is the check that its constructor and its declaration agree."""
    from ltgrid.methods import LOSSES, MIXINGS, SAMPLERS, Loss, Mixing, Sampler

    registry, base = {"loss": (LOSSES, Loss), "mixing": (MIXINGS, Mixing), "sampler": (SAMPLERS, Sampler)}[family]
    builtins = {name: d for name, d in catalog.PARTS[family].items() if d.checked}
    assert builtins and all(d.factory for d in builtins.values())
    for name, declared in builtins.items():
        factory = registry.get(name)
        assert f"{factory.__module__}:{factory.__qualname__}" == declared.factory and issubclass(factory, base)
        takes = set(inspect.signature(factory).parameters) - {"class_counts"}
        assert takes == set(declared.args), (family, name)
        assert name in registry and name in registry.names()


def test_a_builtin_part_is_declared_in_the_table_and_a_plugin_part_by_its_signature():
    def rule(class_counts, strength: float = 0.5):
        return None

    rule.__module__ = "ltgrid.methods.mixing.undeclared"
    with pytest.raises(ValueError, match="a built-in part is declared, with its factory, in PARTS"):
        catalog.PartRegistry("mixing").register("nosuch_rule")(rule)
    rule.__module__ = "plugins.my_rule"
    with pytest.raises(ValueError, match=r"mixing 'mixup' is a built-in \(ltgrid.methods.mixing.mixup:Mixup\)"):
        catalog.PartRegistry("mixing").register("mixup")(rule)
    registry = catalog.PartRegistry("mixing")
    registry.register("my_rule_i12")(rule)
    try:
        assert catalog.PARTS["mixing"]["my_rule_i12"].args["strength"].default == 0.5
        assert not catalog.PARTS["mixing"]["my_rule_i12"].checked
        assert registry.get("my_rule_i12") is rule and "my_rule_i12" in registry.names()
    finally:
        del catalog.PARTS["mixing"]["my_rule_i12"]


def test_method_parts_fill_every_default_once():
    parts = method_parts("m", {"mixing": {"name": "unimix", "tau": 0.0}, "stage2": {"kind": "crt"}})
    assert parts["mixing"] == {"name": "unimix", "alpha": 0.8, "tau": 0.0, "mode": "wrap"}
    assert parts["loss"] == {"name": "ce", "weighting": "none", "beta": 0.9999, "drw_epoch": 0, "posthoc_tau": 0.0,
                             "reduction": "mean"}
    assert parts["sampler"] == {"name": "instance"} and parts["schedule"] == {"mix_off_last": 0}
    assert parts["stage2"]["sampler"] == {"name": "class_balanced"} and parts["stage2"]["epochs"] == 10
    with pytest.raises(PartError, match="method 'm': remix kappa must be a number >= 1, got 0.5"):
        method_parts("m", {"mixing": {"name": "remix", "kappa": 0.5}})


def test_schema_defaults_fill_recipes_and_datasets(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    config = params.load("params/default.yaml")
    config["recipes"]["digits"]["lr_schedule"] = {}
    del config["datasets"]["digits"]["shots"]
    cell = params.resolve_cell(config, params.cells(config)[0])
    assert cell["recipe"]["lr_schedule"] == {"warmup_epochs": 0, "steps": []}
    assert cell["recipe"]["optimizer"]["nesterov"] is False and cell["recipe"]["eval_every"] == 1
    assert cell["shots"] == {"many": 100, "few": 20}  # the paper's thresholds, as metrics.shot_groups' defaults
    from ltgrid.evaluate.metrics import shot_groups

    defaults = inspect.signature(shot_groups).parameters
    assert (defaults["many"].default, defaults["few"].default) == (100, 20)
    assert params.split_options(config, "digits") == {"n_max": 100, "val_per_class": 20, "mode": "profile",
                                                      "test_holdout_per_class": 0}


CHECK = """
import json, sys
from ltgrid import params
config = params.resolve_includes(params.load_yaml(sys.argv[1]))
for key, value in json.loads(sys.argv[2]).items():
    config["method_library"]["unimix"]["mixing"][key] = value
try:
    params.validate(config, check_files=False)  # a paper grid's data is not on this machine
    print("valid", len(params.cells(config)))
except params.ParamsError as exc:
    print(exc)
print("torch imported:", "torch" in sys.modules)
"""


@pytest.mark.parametrize("grid", ["params/paper-cifar.yaml", "params/paper-inat.yaml"])
def test_checking_a_paper_grid_never_imports_torch_and_still_names_bad_parts(repo_root, grid):
    def check(change: dict) -> str:
        proc = subprocess.run([sys.executable, "-c", CHECK, grid, json.dumps(change)], cwd=repo_root,
                              capture_output=True, text=True, check=True)
        return proc.stdout

    good = check({})
    assert good.startswith("valid") and "torch imported: False" in good, good
    bad = check({"alpha": -1})
    assert "method 'unimix': unimix alpha must be a number > 0, got -1" in bad and "torch imported: False" in bad, bad


def test_the_docs_gallery_is_the_method_library(repo_root):
    """docs/methods.md's gallery block is params/methods.yaml's method_library, entry for entry."""
    import re

    import yaml

    blocks = re.findall(r"```yaml\n(.*?)```", (repo_root / "docs" / "methods.md").read_text(), flags=re.S)
    gallery = yaml.safe_load(blocks[-1])
    library = yaml.safe_load((repo_root / "params" / "methods.yaml").read_text())["method_library"]
    parts = lambda entries: {k: {p: v for p, v in e.items() if p != "description"} for k, e in entries.items()}  # noqa: E731
    assert parts(gallery) == parts(library)


def test_the_schema_lists_exactly_the_declared_stage2_schedule_and_optimizer_keys(repo_root):
    schema = params.load_yaml(repo_root / "workflow/schemas/params.schema.yaml")["$defs"]["method"]["properties"]
    assert set(schema["stage2"]["properties"]) == set(catalog.STAGE2.args)
    assert set(schema["schedule"]["properties"]) == set(catalog.SCHEDULE.args)
    assert set(schema["optimizer"]["properties"]) == set(catalog.METHOD_OPTIMIZER.args)
