"""Reading a grid file: YAML with its line and column on error, `include:`, the schema's defaults.

The bottom of the params package: no torch, nothing of the pipeline's; every other params module
builds on these.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from ltgrid.errors import ParamsError

# The project's schema (the package runs from a checkout: workflow/ sits beside src/).
DEFAULT_SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "params.schema.yaml"


def yaml_problem(path: str | Path, exc: yaml.YAMLError) -> str:
    """A YAML error as one line: file, line and column (1-based, as editors count), the problem."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    return f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"params file {path} does not exist")
    with open(path) as fh:
        try:
            data = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ParamsError(f"params file {yaml_problem(path, exc)}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"params file {path} must hold a mapping, got {type(data).__name__}")
    return data


def grid_file(name: str, root: str | Path = ".") -> Path:
    """params/<name>.yaml: the grid `--config grid=<name>` runs (a grid is named as its file)."""
    path = Path(root) / "params" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (Path(root) / "params").glob("*.yaml") if "grid" in (load_yaml(p) or {}))
        raise ParamsError(f"grid = {name!r}: no file {path}; the grids in params/: {', '.join(known)}")
    return path


def resolve_includes(config: dict[str, Any], root: str | Path = ".", _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """Merge the files named in `include:` (paths from the project root) under the grid's own keys.

    Lets every grid share one method library (params/methods.yaml) instead of copying it;
    included files may include others.
    """
    includes = config.get("include") or []
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ParamsError(f"include = {includes!r}: must be a list of params file paths")
    merged: dict[str, Any] = {}
    for inc in includes:
        path = Path(root) / inc
        if inc in _seen:
            raise ParamsError(f"include = {inc!r}: includes itself through {' -> '.join(_seen)}")
        if not path.exists():
            raise ParamsError(f"include = {inc!r}: file {path} does not exist")
        merged = deep_merge(merged, resolve_includes(load_yaml(path), root, (*_seen, inc)))
    own = {k: v for k, v in config.items() if k != "include"}
    return deep_merge(merged, own)


@functools.lru_cache(maxsize=4)
def _schema(path: str) -> dict[str, Any]:
    return load_yaml(path)


def with_defaults(value: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `value` with every absent key that the schema gives a `default` filled in,
    recursively through object properties (a defaulted object gets its own keys' defaults)."""
    out = copy.deepcopy(value)
    for key, sub in (schema.get("properties") or {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if isinstance(out.get(key), dict) and sub.get("properties"):
            out[key] = with_defaults(out[key], sub)
    return out


def fill_recipe(recipe: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """A recipe with the schema's defaults filled in: the one place recipe defaults live."""
    return with_defaults(recipe, _schema(str(schema_path))["$defs"]["recipe"])


def fill_optimizer(optimizer: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """A recipe's `optimizer` entry with the schema's defaults (momentum, weight decay, nesterov)."""
    return with_defaults(optimizer, _schema(str(schema_path))["$defs"]["recipe"]["properties"]["optimizer"])


def recipe(config: dict[str, Any], name: str, schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    return fill_recipe(config["recipes"][name], schema_path)


def dataset(config: dict[str, Any], name: str, schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """A dataset entry with the schema's defaults (split, shots) filled in."""
    return with_defaults(config["datasets"][name], _schema(str(schema_path))["properties"]["datasets"]["additionalProperties"])


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def format_rho(rho: float) -> str:
    """10 -> '10', 12.5 -> '12.5': the form used in paths and tables."""
    return str(int(rho)) if float(rho).is_integer() else str(rho)


def _key_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def schema_errors(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    messages = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        where = _key_path(err.absolute_path)
        if err.validator == "additionalProperties":
            known = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(known))
            messages.append(f"{where}: unknown key(s) {extra}" + (f"; allowed: {known}" if known else ""))
        else:
            messages.append(f"{where} = {json.dumps(err.instance, default=str)[:80]}: {err.message}")
    return messages


def recipe_problems(rec: dict[str, Any], where: str) -> list[str]:
    """What a filled recipe's keys allow one by one but not together (the schema checked each)."""
    problems = [f"{where}.lr_schedule.steps: epoch {step['epoch']} is not before epochs = {rec['epochs']}"
                for step in rec["lr_schedule"]["steps"] if step["epoch"] >= rec["epochs"]]
    if rec.get("cuda_graph") and rec.get("compile") and rec.get("compile_mode") in ("reduce-overhead", "max-autotune"):
        problems.append(f"{where}: cuda_graph and compile_mode {rec['compile_mode']!r} both record CUDA graphs; "
                        "turn one of them off")
    return problems
