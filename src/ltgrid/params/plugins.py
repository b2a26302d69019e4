"""Plugins: a grid's own parts in its own modules, registered with the built-ins' decorators.

A grid lists importable modules under `plugins:`, e.g. `plugins.my_loss` (the file
plugins/my_loss.py at the project root) or an installed package's module. Importing one
runs its `@LOSSES.register(...)` (or MIXINGS, SAMPLERS, MODELS, SOURCES) lines, so from
then on validation, building and the tables treat its parts exactly like built-ins.
A cell records the plugin modules whose parts it uses and a digest of their source files,
which is part of the cell's key: editing a plugin reruns exactly the cells that use it.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Iterable

from ltgrid.registry import Registry
from ltgrid.project import project_root

METHOD_PARTS = ("loss", "mixing", "sampler")


def load(modules: Iterable[str], root: str | Path | None = None) -> None:
    """Import the plugin modules (the project root first on the path, for its plugins/ folder).
    Importing twice is a no-op, so every entry point may call this."""
    root = str(Path(root).resolve() if root else project_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    for name in modules:
        importlib.import_module(name)


def load_errors(config: dict[str, Any]) -> list[str]:
    """Load a grid's plugins; a module that cannot be imported is named with the reason."""
    errors = []
    for i, name in enumerate(config.get("plugins") or []):
        try:
            load([name])
        except Exception as exc:  # a plugin's own import error, whatever it is, is the user's to fix
            errors.append(f"plugins[{i}] = {name!r}: cannot be imported: {type(exc).__name__}: {exc}")
    return errors


def registries() -> dict[str, Registry[Any]]:
    """Every kind of part a plugin may register, by the params key that names it."""
    from ltgrid.data import SOURCES
    from ltgrid.methods import LOSSES, MIXINGS, SAMPLERS
    from ltgrid.models import MODELS

    return {"loss": LOSSES, "mixing": MIXINGS, "sampler": SAMPLERS, "model": MODELS, "source": SOURCES}


def provider(kind: str, name: str, modules: Iterable[str]) -> str | None:
    """The plugin module (of `modules`) that defines part `name` of `kind`, or None for a built-in."""
    registry = registries()[kind]
    if name not in registry or registry.is_builtin(name):
        return None
    defined_in = getattr(registry.get(name), "__module__", "") or ""
    for module in modules:
        if defined_in == module or defined_in.startswith(module + "."):
            return module
    return None


def _method_parts(spec: dict[str, Any] | None) -> list[tuple[str, str]]:
    spec = spec or {}
    parts = [(p, spec[p]["name"]) for p in METHOD_PARTS if isinstance(spec.get(p), dict) and "name" in spec[p]]
    sampler = (spec.get("stage2") or {}).get("sampler")
    if isinstance(sampler, dict) and "name" in sampler:
        parts.append(("sampler", sampler["name"]))
    return parts


def cell_plugins(config: dict[str, Any], cell: dict[str, Any]) -> list[str]:
    """The grid's plugin modules whose parts this resolved cell uses (method, base, model)."""
    modules = list(config.get("plugins") or [])
    if not modules:
        return []
    load(modules)
    parts = _method_parts(cell["method_spec"]) + _method_parts(cell.get("base_method_spec"))
    parts.append(("model", cell["model"]))
    used = {provider(kind, name, modules) for kind, name in parts}
    return [m for m in modules if m in used]


def source_plugin(config: dict[str, Any], dataset: str) -> list[str]:
    """The plugin module providing a dataset's source kind, as a one-item list, or []."""
    modules = list(config.get("plugins") or [])
    if not modules:
        return []
    load(modules)
    found = provider("source", config["datasets"][dataset]["source"]["kind"], modules)
    return [found] if found else []


def source_files(modules: Iterable[str], root: str | Path | None = None) -> list[str]:
    """The files of plugin modules (every .py of a package), relative to the project root when
    inside it: the inputs that make an edited plugin rerun its cells."""
    root = Path(root).resolve() if root else project_root()
    files: list[str] = []
    for name in modules:
        module = sys.modules.get(name) or importlib.import_module(name)
        path = Path(module.__file__).resolve()
        found = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
        files += [str(f.relative_to(root)) if f.is_relative_to(root) else str(f) for f in found]
    return files


def code_digest(modules: Iterable[str]) -> str:
    """sha256 (16 hex digits) of the plugin modules' code: each file's name within its module and its
    contents, so the same plugin gives the same digest wherever the project is."""
    import hashlib

    digest = hashlib.sha256()
    for name in modules:
        module = sys.modules.get(name) or importlib.import_module(name)
        path = Path(module.__file__).resolve()
        found = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
        for f in found:
            digest.update(f"{name}:{f.relative_to(path.parent)}".encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
