"""Plugins: a grid's own parts register like built-ins, are validated like them, and are inputs of their cells."""

from __future__ import annotations

import textwrap
import uuid

import pytest

from ltgrid import params
from ltgrid.params import plugins

SCHEMA = params.DEFAULT_SCHEMA

PLUGIN = """
from ltgrid.data import SOURCES
from ltgrid.methods.losses.ce import CrossEntropy
from ltgrid.methods.losses import LOSSES
from ltgrid.models import MODELS
from ltgrid.models.small import DigitsCNN


@LOSSES.register("{name}_loss")
class Scaled(CrossEntropy):
    def __init__(self, class_counts, scale: float = 1.0):
        super().__init__(class_counts)
        if not scale > 0:
            raise ValueError(f"{name}_loss scale must be > 0, got {{scale!r}}")
        self.scale = scale

    def per_sample(self, logits, target):
        return self.scale * super().per_sample(logits, target)


MODELS.register("{name}_net")(lambda **kw: DigitsCNN(**kw))
SOURCES.register("{name}_source")(lambda work_dir, **kw: None)
"""


@pytest.fixture()
def plugin(tmp_path, monkeypatch, repo_root):
    """A uniquely named plugin module in a temporary folder on the path (registries are process-wide)."""
    name = f"plug_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(PLUGIN.format(name=name)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(repo_root)
    return name, tmp_path


def grid_with(name: str, **loss) -> dict:
    grid = params.resolve_includes(params.load_yaml("params/default.yaml"))
    grid["plugins"] = [name]
    grid["method_library"]["mine"] = {"loss": {"name": f"{name}_loss", **loss}, "mixing": {"name": "unimix"}}
    grid["methods"] = ["ce", "mine"]
    return grid


def test_a_plugin_part_is_validated_built_and_recorded_only_by_its_cells(plugin):
    name, folder = plugin
    grid = params.validate(grid_with(name, scale=2.0), SCHEMA)
    mine = params.resolve_cell(grid, params.Cell("digits", "10", 0, "mine", 0))
    assert mine["plugins"] == [name]
    assert "plugins" not in params.resolve_cell(grid, params.Cell("digits", "10", 0, "ce", 0))
    assert plugins.source_files(mine["plugins"], root=folder) == [f"{name}.py"]

    import torch

    from ltgrid.methods import build_method

    method = build_method("mine", mine["method_spec"], torch.tensor([50.0, 10.0]))
    logits, target = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    assert method.loss.per_sample(logits, target).item() == pytest.approx(2 * torch.log1p(torch.exp(torch.tensor(-2.0))).item())


def test_a_plugin_models_and_sources_make_their_cells_and_datasets_depend_on_it(plugin):
    name, _ = plugin
    grid = grid_with(name)
    grid["datasets"]["digits"]["model"] = f"{name}_net"
    grid = params.validate(grid, SCHEMA)
    assert params.resolve_cell(grid, params.Cell("digits", "10", 0, "ce", 0))["plugins"] == [name]
    assert plugins.source_plugin(grid, "digits") == []
    grid["datasets"]["digits"]["source"] = {"kind": f"{name}_source"}
    assert plugins.source_plugin(grid, "digits") == [name]


def test_a_plugin_parts_bad_value_is_refused_like_a_built_ins(plugin):
    name, _ = plugin
    with pytest.raises(params.ParamsError, match=rf"method_library.mine .*{name}_loss scale must be > 0, got -1"):
        params.validate(grid_with(name, scale=-1), SCHEMA)
    with pytest.raises(params.ParamsError, match=r"unknown argument\(s\) 'scal'; accepts: .*scale"):
        params.validate(grid_with(name, scal=1), SCHEMA)


def test_a_plugin_that_cannot_be_imported_is_named(plugin, tmp_path):
    name, _ = plugin
    with pytest.raises(params.ParamsError, match=r"plugins\[0\] = 'plugins.nosuch': cannot be imported: ModuleNotFoundError"):
        params.validate(grid_with("plugins.nosuch"), SCHEMA)
    (tmp_path / "broken_plugin_i17.py").write_text("raise RuntimeError('half-written')\n")
    with pytest.raises(params.ParamsError, match=r"plugins\[0\] = 'broken_plugin_i17': .*RuntimeError: half-written"):
        params.validate(grid_with("broken_plugin_i17"), SCHEMA)
    with pytest.raises(params.ParamsError, match=r'plugins\[0\] = "not a module": .* does not match'):
        params.validate(grid_with("not a module"), SCHEMA)


def test_a_package_plugins_source_is_every_file_of_it(tmp_path, monkeypatch):
    package = tmp_path / "plugins" / f"pkg_{uuid.uuid4().hex[:8]}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from . import part  # noqa: F401\n")
    (package / "part.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = f"plugins.{package.name}"
    plugins.load([module], root=tmp_path)
    assert plugins.source_files([module], root=tmp_path) == [
        f"plugins/{package.name}/__init__.py", f"plugins/{package.name}/part.py"]


def test_the_docs_plugin_loss_is_label_smoothed_bayias(tmp_path, monkeypatch, repo_root):
    """The loss docs/extending.md writes, against its equation on two classes (counts 3 and 1)."""
    import math
    import re

    import torch

    text = (repo_root / "docs" / "extending.md").read_text()
    code = re.search(r"cat > plugins/bayias_ls.py <<'EOF'\n(.*?)^EOF", text, re.S | re.M).group(1)
    name = f"docs_ls_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(code.replace('"bayias_ls"', f'"{name}"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.load([name])
    from ltgrid.methods.losses import build_loss

    loss = build_loss(name, torch.tensor([3.0, 1.0]), epsilon=0.2)
    z = [1.0 + math.log(0.75 / 0.5), 0.0 + math.log(0.25 / 0.5)]  # z + log pi - log p_test (uniform)
    log_p = [v - math.log(sum(math.exp(u) for u in z)) for v in z]
    expected = -((1 - 0.2 + 0.1) * log_p[0] + 0.1 * log_p[1])
    got = loss.per_sample(torch.tensor([[1.0, 0.0]]), torch.tensor([0])).item()
    assert got == pytest.approx(expected, rel=1e-6)
    assert build_loss(name, torch.tensor([3.0, 1.0]), epsilon=0.0).per_sample(
        torch.tensor([[1.0, 0.0]]), torch.tensor([0])).item() == pytest.approx(-log_p[0], rel=1e-6)
    with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\), got 2"):
        build_loss(name, torch.tensor([3.0, 1.0]), epsilon=2)
