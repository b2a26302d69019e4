"""Every bad input of the robustness issue, one message naming the key and the bad value.

tests/unit/test_params.py holds the first cases of each kind; these fill the gaps (zero and
negative values, strings where YAML users meant numbers, booleans as seeds, bad method parts,
secrets) and check that unsafe YAML is refused before anything is built from it.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from ltgrid import params


@pytest.fixture()
def config(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    return params.load("params/default.yaml")


def message(config: dict, mutate) -> str:
    bad = copy.deepcopy(config)
    mutate(bad)
    with pytest.raises(params.ParamsError) as err:
        params.validate(bad)
    return str(err.value)


def crt_on(base: str) -> dict:
    return {"loss": {"name": "ce"}, "stage2": {"kind": "crt", "base": base, "epochs": 2, "lr": 0.1,
                                              "sampler": {"name": "class_balanced"}}}


CASES = {
    # a rho below 1
    "rho zero": (lambda c: c["datasets"]["digits"].__setitem__("ratios", [0]), "datasets.digits.ratios[0] = 0"),
    "rho negative": (lambda c: c["datasets"]["digits"].__setitem__("ratios", [10, -5]), "datasets.digits.ratios[1] = -5"),
    "rho string": (lambda c: c["datasets"]["digits"].__setitem__("ratios", ["10"]), 'datasets.digits.ratios[0] = "10"'),
    # non-positive epochs or learning rate
    "epochs negative": (lambda c: c["recipes"]["digits"].__setitem__("epochs", -1), "recipes.digits.epochs = -1"),
    "epochs fraction": (lambda c: c["recipes"]["digits"].__setitem__("epochs", 2.5), "recipes.digits.epochs = 2.5"),
    "lr zero": (lambda c: c["recipes"]["digits"]["optimizer"].__setitem__("lr", 0), "recipes.digits.optimizer.lr = 0"),
    # PyYAML reads `lr: 1e-3` (no dot) as a string
    "lr as YAML string": (lambda c: c["recipes"]["digits"]["optimizer"].__setitem__("lr", "1e-3"),
                          'recipes.digits.optimizer.lr = "1e-3"'),
    "crt lr zero": (lambda c: c["method_library"].__setitem__("crt", {**crt_on("ce"), "stage2": {**crt_on("ce")["stage2"], "lr": 0}})
                    or c["methods"].append("crt"), "stage2.lr must be a number > 0, got 0"),
    # a seed that is not an integer
    "seed boolean": (lambda c: c.__setitem__("seeds", [True]), "seeds[0] = true"),
    "seed string": (lambda c: c.__setitem__("seeds", ["3"]), 'seeds[0] = "3"'),
    "seed negative": (lambda c: c.__setitem__("seeds", [-1]), "seeds[0] = -1"),
    "split seed fraction": (lambda c: c["datasets"]["digits"]["split"].__setitem__("seeds", [0.5]),
                            "datasets.digits.split.seeds[0] = 0.5"),
    # unknown dataset, method or key
    "dataset without model": (lambda c: c["datasets"].__setitem__("cifar", {"source": {"kind": "cifar10"}, "ratios": [10], "recipe": "digits"}),
                              "'model' is a required property"),
    "dataset with unknown recipe": (lambda c: c["datasets"]["digits"].__setitem__("recipe", "nope"),
                                    "datasets.digits.recipe = 'nope': not in recipes"),
    "dataset method list": (lambda c: c["datasets"]["digits"].__setitem__("methods", ["ce", "cee"]),
                            "datasets.digits.methods[1] = 'cee': unknown method"),
    "override of unknown method": (lambda c: c["datasets"]["digits"].__setitem__("method_overrides", {"unimx": {}}),
                                   "datasets.digits.method_overrides.unimx: unknown method"),
    "unknown recipe key": (lambda c: c["recipes"]["digits"].__setitem__("epoch", 3), "recipes.digits: unknown key(s) ['epoch']"),
    "unknown optimizer": (lambda c: c["recipes"]["digits"]["optimizer"].__setitem__("name", "adamw"),
                          'recipes.digits.optimizer.name = "adamw"'),
    "unknown method key": (lambda c: c["method_library"]["ce"].__setitem__("sampling", {"name": "instance"}),
                           "method_library.ce: unknown key(s) ['sampling']"),
    # a method whose parts do not exist
    "unknown sampler": (lambda c: c["method_library"]["ce"].__setitem__("sampler", {"name": "nosuchsampler"}),
                        "sampler.name = 'nosuchsampler' is not a known sampler"),
    "unknown loss argument": (lambda c: c["method_library"]["ce"]["loss"].__setitem__("gamm", 2),
                              "loss 'ce': unknown argument(s) 'gamm'"),
    "unknown stage-2 kind": (lambda c: c["method_library"].__setitem__("crt", {"loss": {"name": "ce"}, "stage2": {"kind": "crtt"}})
                             or c["methods"].append("crt"), "stage2.kind 'crtt' is not one of crt, tau_norm, lws, mislas, finetune"),
    "unknown stage-1 base": (lambda c: c["method_library"].__setitem__("crt", crt_on("nosuch")) or c["methods"].append("crt"),
                             "stage2.base = 'nosuch': unknown method"),
    # a part whose value is out of range: caught by a trial build before any job, not at train time
    "unimix alpha negative": (lambda c: c["method_library"]["unimix"]["mixing"].__setitem__("alpha", -1),
                              "method_library.unimix (dataset digits): method 'unimix': unimix alpha must be a number > 0, got -1"),
    "unimix tau a string": (lambda c: c["method_library"]["unimix"]["mixing"].__setitem__("tau", "x"),
                            "unimix tau must be a number, got 'x'"),
    "focal gamma negative": (lambda c: c["method_library"]["ce"]["loss"].update({"name": "focal", "gamma": -1}),
                             "focal gamma must be a number >= 0, got -1"),
    "class-balanced beta above 1": (lambda c: c["method_library"]["ce"]["loss"].update({"weighting": "class_balanced", "beta": 1.5}),
                                    "beta must be a number in [0, 1], got 1.5"),
    "bayias test prior negative": (lambda c: c["method_library"]["bayias"]["loss"].__setitem__("test_prior", [1, -1, 1]),
                                   "bayias test_prior must be 3 positive numbers, got [1, -1, 1]"),
    "part without name": (lambda c: c["method_library"]["mixup"].__setitem__("mixing", {"alpha": 1.0}),
                          "method_library.mixup.mixing = {\"alpha\": 1.0}: 'name' is a required property"),
    # a method listed twice would silently be trained once
    "method listed twice": (lambda c: c.__setitem__("methods", ["ce", "mixup", "ce"]),
                            "methods[2] = 'ce': listed twice (also methods[0])"),
    "dataset method listed twice": (lambda c: c["datasets"]["digits"].__setitem__("methods", ["mixup", "mixup"]),
                                    "datasets.digits.methods[1] = 'mixup': listed twice (also datasets.digits.methods[0])"),
    # a source refused by validate, not inside the prepare job after the store was set up
    "archive source without checksum": (
        lambda c: c["datasets"]["digits"].__setitem__("source", {"kind": "image_folder_archive", "path": "x.tar.gz", "classes": ["a"]}),
        "datasets.digits.source: a source needs an md5 or sha256 checksum; refusing to use unverified data"),
    "checksum not hex": (lambda c: c["datasets"]["digits"].__setitem__("source", {"kind": "cifar10", "md5": "abc"}),
                         "datasets.digits.source: md5 checksum 'abc' is not 32 hex digits"),
    "misspelt source argument": (lambda c: c["datasets"]["digits"]["source"].__setitem__("test_per_clas", 5),
                                 "datasets.digits.source (kind 'sklearn_digits'): unknown argument(s) 'test_per_clas'"),
    # no credentials in params (the value itself is not repeated)
    "password in tracking uri": (lambda c: c.__setitem__("tracking", {"uri": "https://alice:s3cret@mlflow.example.org/"}),
                                 "tracking.uri: a URL with user:password@"),
    "token key in a source": (lambda c: c["datasets"]["digits"]["source"].__setitem__("api_token", "s3cret"),
                              "datasets.digits.source.api_token: looks like a credential"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_input_names_key_and_value(config, case):
    mutate, expected = CASES[case]
    text = message(config, mutate)
    assert expected in text, text
    assert "s3cret" not in text


def test_every_problem_is_listed_at_once(config):
    def two_faults(c):
        c["recipes"]["digits"]["epochs"] = 0
        c["seeds"] = [0.5]

    text = message(config, two_faults)
    assert "recipes.digits.epochs = 0" in text and "seeds[0] = 0.5" in text


@pytest.mark.parametrize(
    "tag", ["!!python/object/apply:os.system ['touch /tmp/ltgrid-pwned']", "!!python/object:collections.OrderedDict {}",
            "!!python/name:os.system"],
)
def test_python_yaml_tags_are_refused(tmp_path, tag):
    path = tmp_path / "evil.yaml"
    path.write_text(f"grid: evil\nseeds: {tag}\n")
    with pytest.raises(params.ParamsError, match=r"evil.yaml, line \d+, column \d+: not valid YAML: could not determine a constructor .*python/"):
        params.load_yaml(path)


def test_validate_command_exits_2_with_the_message(repo_root, tmp_path):
    import yaml

    config = yaml.safe_load((repo_root / "params/default.yaml").read_text())
    config["recipes"]["digits"]["optimizer"]["lr"] = -0.1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "ltgrid", "validate", str(bad)], cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode == 2 and "recipes.digits.optimizer.lr = -0.1" in proc.stderr, proc.stderr
