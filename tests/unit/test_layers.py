"""The package reads like the pipeline, bottom to top, and stays that way: no import cycle, no
module-level import up the layers, no file over 300 lines, no function over 60, nothing under
train/ importing params or the method catalog, and the params check free of torch.

Lazy imports (inside a function) may reach up only where listed in LAZY_UP, each with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# Bottom to top. A module takes the layer of its longest listed prefix.
LAYERS = [
    # the contract every stage shares: errors, atomic files, the project root, registries, a cell's folder
    ["ltgrid", "ltgrid.errors", "ltgrid.io", "ltgrid.project", "ltgrid.registry", "ltgrid.cell_files", "ltgrid.locks",
     "ltgrid.evaluate.protocols"],
    # torch-free declarations of the parts params name (their arguments, outputs, sources' checks)
    ["ltgrid.methods.rules", "ltgrid.methods.catalog", "ltgrid.methods.spec", "ltgrid.methods.validation",
     "ltgrid.models.names", "ltgrid.data.source_checks", "ltgrid.data.source_table", "ltgrid.data.sources",
     "ltgrid.data.normalization", "ltgrid.report.render",
     "ltgrid.report.outputs"],
    ["ltgrid.params"],
    ["ltgrid.data", "ltgrid.models", "ltgrid.methods"],
    ["ltgrid.tracking"],
    ["ltgrid.train", "ltgrid.evaluate"],
    ["ltgrid.report"],
    ["ltgrid.cli", "ltgrid.cell_inputs", "ltgrid.__main__"],
]
# (importer prefix, imported prefix): why a lazy import may reach up
LAZY_UP = {
    ("ltgrid.params", "ltgrid.data"): "the registered source kinds and the long-tail profile, to check a grid's data",
    ("ltgrid.data.source_checks", "ltgrid.data"): "the registered source kinds (a plugin's among them)",
    ("ltgrid.params", "ltgrid.models"): "models a grid's plugins register",
    ("ltgrid.params", "ltgrid.methods"): "parts a grid's plugins register",
    ("ltgrid.methods.validation", "ltgrid.methods.compose"): "a plugin part's values are checked by building it",
}


def layer(module: str) -> int:
    best, rank = "", -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best):
                best, rank = name, i
    return rank


def modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "ltgrid").rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        out[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = path
    return out


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported ltgrid module, lazy) for every import in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ltgrid"):
            targets = [node.module]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.startswith("ltgrid")]
        else:
            continue
        out += [(t, node.col_offset > 0) for t in targets]
    return out


def test_every_module_has_a_layer() -> None:
    assert [m for m in modules() if layer(m) < 0] == []


def test_no_import_reaches_up_a_layer() -> None:
    ups = []
    for module, path in modules().items():
        for target, lazy in imports(path):
            if layer(target) <= layer(module):
                continue
            allowed = lazy and any(module.startswith(a) and target.startswith(b) for a, b in LAZY_UP)
            if not allowed:
                ups.append(f"{module} -> {target}{' (lazy)' if lazy else ''}")
    assert ups == []


def test_no_import_cycle() -> None:
    mods = modules()

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {m: {o for t, _ in imports(p) if (o := owner(t)) and o != m and not o.startswith(m + ".")}
             for m, p in mods.items()}
    seen: dict[str, int] = {}  # 1: on the path, 2: done
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        seen[m] = 1
        for n in sorted(graph[m]):
            if seen.get(n) == 1:
                cycles.append(path[path.index(n):] + [n])
            elif n not in seen:
                visit(n, path + [n])
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m, [m])
    assert cycles == []


def test_small_files_and_functions() -> None:
    big, long = [], []
    for module, path in modules().items():
        text = path.read_text()
        if len(text.splitlines()) > 300:
            big.append(f"{module}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert big == [] and long == []


def test_train_neither_fills_nor_checks_params() -> None:
    offenders = [f"{m} -> {t}" for m, p in modules().items() if m.startswith("ltgrid.train")
                 for t, _ in imports(p) if t.startswith(("ltgrid.params", "ltgrid.methods.catalog", "ltgrid.methods.spec"))]
    assert offenders == []


@pytest.mark.parametrize("module", ["ltgrid.params", "ltgrid.cell_files", "ltgrid.report.outputs"])
def test_what_the_workflow_parse_imports_needs_no_torch_or_pandas(module) -> None:
    import subprocess
    import sys

    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'pandas', 'mlflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
