"""Sweeps: a method's parameters expanded over lists into named variants, each a plain method.

A grid spells a sweep as::

    sweeps:
      unimix_at:                     # the sweep's name; the grid lists it under `methods`
        base: unimix                 # a method of method_library
        set: {schedule: {mix_off_last: 0}}        # optional: fixed changes to the base
        values:                      # dotted part.argument -> the values to try
          mixing.alpha: [0.5, 1.0]
          mixing.tau: [-0.5, 0]

and runs the product as methods `unimix_at--alpha_0.5--tau_-0.5`, ... A variant's name is
made from its values alone (not their position in a list), so adding or editing one value
leaves every other variant's name, recipe and finished cells untouched. Names keep to the
characters paths and Snakemake wildcards allow. Expansion is torch-free and happens once,
when params are validated; after it every variant is an ordinary method_library entry.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from typing import Any

from ltgrid.errors import ParamsError
from ltgrid.params.loading import deep_merge

SEPARATOR = "--"
SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


class SweepError(ParamsError):
    """A sweep entry is malformed; the message names the entry."""


@dataclass(frozen=True)
class Variant:
    """One point of a sweep: its method name and the swept values, in the sweep's key order."""

    name: str
    sweep: str
    base: str
    values: tuple[tuple[str, Any], ...]

    def record(self) -> dict[str, Any]:
        """What a resolved cell (and so MLflow) carries about the sweep."""
        return {"name": self.sweep, "base": self.base, "values": dict(self.values)}


def format_value(value: Any) -> str:
    """0.5 -> '0.5', 1.0 -> '1', -0.5 -> '-0.5', True -> 'true', 'clip' -> 'clip'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def key_labels(keys: list[str]) -> dict[str, str]:
    """The shortest readable label per swept key: its argument, or the whole path when two share it."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (tail if last.count(tail) == 1 else k) for k, tail in zip(keys, last)}


def nested(dotted: dict[str, Any]) -> dict[str, Any]:
    """{'mixing.alpha': 0.5} -> {'mixing': {'alpha': 0.5}}."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = copy.deepcopy(value)
    return out


def _value_problem(where: str, value: Any) -> str | None:
    if value is None or isinstance(value, (list, dict)):
        return f"{where} = {value!r}: a swept value must be a number, a string or a boolean"
    if isinstance(value, str) and not SAFE.match(value):
        return f"{where} = {value!r}: a swept string may hold only letters, digits and _ . - (it goes into the method name)"
    return None


def _entry_problems(name: str, entry: dict[str, Any], library: dict[str, Any]) -> list[str]:
    where = f"sweeps.{name}"
    problems = []
    if not SAFE.match(name) or SEPARATOR in name:
        problems.append(f"{where}: the name may hold only letters, digits and _ . - (and not {SEPARATOR!r})")
    if name in library:
        problems.append(f"{where}: the name is already a method of method_library; pick another")
    if entry["base"] not in library:
        problems.append(f"{where}.base = {entry['base']!r}: unknown method; defined in method_library: {sorted(library)}")
    for key, values in entry["values"].items():
        if key.count(".") < 1 or not all(key.split(".")):
            problems.append(f"{where}.values.{key}: must be a dotted path part.argument, e.g. mixing.alpha")
        labels = [format_value(v) for v in values]
        for i, value in enumerate(values):
            problem = _value_problem(f"{where}.values.{key}[{i}]", value)
            if problem:
                problems.append(problem)
            elif labels.index(labels[i]) != i:
                problems.append(f"{where}.values.{key}[{i}] = {value!r}: repeats [{labels.index(labels[i])}]")
    return problems


def sweep_variants(name: str, entry: dict[str, Any]) -> list[Variant]:
    """The product of a sweep's values, keys in their declared order."""
    keys = list(entry["values"])
    labels = key_labels(keys)
    out = []
    for combo in itertools.product(*(entry["values"][k] for k in keys)):
        suffix = SEPARATOR.join(f"{labels[k]}_{format_value(v)}" for k, v in zip(keys, combo))
        out.append(Variant(f"{name}{SEPARATOR}{suffix}", name, entry["base"], tuple(zip(keys, combo))))
    return out


def variants(config: dict[str, Any]) -> dict[str, Variant]:
    """Every variant of every sweep of a grid, by method name."""
    return {v.name: v for name, entry in (config.get("sweeps") or {}).items() for v in sweep_variants(name, entry)}


def variant_spec(config: dict[str, Any], variant: Variant, base_spec: dict[str, Any]) -> dict[str, Any]:
    """The base's spec, then the sweep's `set`, then the variant's values: swept values win."""
    entry = config["sweeps"][variant.sweep]
    return deep_merge(deep_merge(base_spec, entry.get("set") or {}), nested(dict(variant.values)))


def _expand_list(methods: list[str], sweeps: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for method in methods:
        out += [v.name for v in sweep_variants(method, sweeps[method])] if method in sweeps else [method]
    return out


def _listing_problems(methods: list[str], sweeps: dict[str, Any], where: str) -> list[str]:
    """A method run twice, named by its positions in the list as written: listed twice, or listed
    beside a sweep (also listed) that makes it."""
    problems, first = [], {}
    for i, name in enumerate(methods):
        if name in first:
            problems.append(f"{where}[{i}] = {name!r}: listed twice (also {where}[{first[name]}])")
        first.setdefault(name, i)
    made_by = {v.name: i for i, name in enumerate(methods) if name in sweeps for v in sweep_variants(name, sweeps[name])}
    for i, name in enumerate(methods):
        if name in made_by and name not in sweeps:
            j = made_by[name]
            problems.append(f"{where}[{i}] = {name!r}: listed twice (also made by the sweep {where}[{j}] = {methods[j]!r})")
    return problems


def _variant_entry(config: dict[str, Any], own: dict[str, Any], variant: Variant) -> dict[str, Any]:
    """The method_library entry a variant becomes."""
    spec = variant_spec(config, variant, {k: v for k, v in own[variant.base].items() if k != "description"})
    values = ", ".join(f"{k}={format_value(v)}" for k, v in variant.values)
    return {**spec, "description": f"sweep {variant.sweep} of {variant.base}: {values}"}


def _collisions(config: dict[str, Any], own: dict[str, Any]) -> list[str]:
    """A method the grid defines itself under a variant's name (one the expansion did not make):
    expanding would replace it silently, so both entries are named instead."""
    library, problems = config["method_library"], []
    for name, entry in (config.get("sweeps") or {}).items():
        for variant in sweep_variants(name, entry):
            if variant.name in library and variant.base in own and library[variant.name] != _variant_entry(config, own, variant):
                values = ", ".join(f"values.{k}[{entry['values'][k].index(v)}] = {v!r}" for k, v in variant.values)
                problems.append(f"method_library.{variant.name}: defined in the grid, and also the name of a variant of "
                                f"sweeps.{name} ({values}); rename one of them")
    return problems


def _problems_error(problems: list[str]) -> SweepError:
    if len(problems) == 1:
        return SweepError(f"invalid params: {problems[0]}")
    return SweepError(f"invalid params ({len(problems)} problems):\n  - " + "\n  - ".join(problems))


def expand(config: dict[str, Any]) -> dict[str, Any]:
    """The grid with every sweep's variants in method_library (and in the dataset overrides of
    their base, per ratio too), and each sweep named under `methods` replaced by its variants.
    Idempotent. Refuses, naming both entries, a variant whose name the grid already gives a method
    of its own, and a method a list would run twice (positions as written)."""
    sweeps = config.get("sweeps") or {}
    if not sweeps:
        return config
    out = copy.deepcopy(config)
    library = out["method_library"]
    own = {k: v for k, v in library.items() if k not in variants(config)}  # a second expansion sees the first's
    problems = [p for name, entry in sweeps.items() for p in _entry_problems(name, entry, own)]
    if not problems:
        problems = _collisions(config, own) + _listing_problems(config["methods"], sweeps, "methods")
        for ds_name, ds in config["datasets"].items():
            problems += _listing_problems(ds.get("methods") or [], sweeps, f"datasets.{ds_name}.methods")
    if problems:
        raise _problems_error(problems)
    for variant in variants(config).values():
        library[variant.name] = _variant_entry(config, own, variant)
        for ds in out["datasets"].values():
            overrides = ds.get("method_overrides") or {}
            if variant.base in overrides:
                overrides[variant.name] = variant_spec(config, variant, overrides[variant.base])
            for per_method in (ds.get("ratio_overrides") or {}).values():
                if per_method and variant.base in per_method:
                    per_method[variant.name] = variant_spec(config, variant, per_method[variant.base])
    out["methods"] = _expand_list(out["methods"], sweeps)
    for ds in out["datasets"].values():
        if ds.get("methods"):
            ds["methods"] = _expand_list(ds["methods"], sweeps)
    return out


def value_errors(config: dict[str, Any]) -> list[str]:
    """Each swept value alone on its base, through the parts' own checks: a bad value is named
    by its sweep entry and index, before any job (and before the variants' own checks)."""
    from ltgrid.methods.validation import validate_method

    errors = []
    library = config["method_library"]
    for name, entry in (config.get("sweeps") or {}).items():
        base = {k: v for k, v in library[entry["base"]].items() if k != "description"}
        base = deep_merge(base, entry.get("set") or {})
        for key, values in entry["values"].items():
            for i, value in enumerate(values):
                try:
                    validate_method(entry["base"], deep_merge(base, nested({key: value})))
                except (ValueError, TypeError, KeyError) as exc:
                    errors.append(f"sweeps.{name}.values.{key}[{i}] = {value!r}: {exc}")
    return errors
