"""A method as one dataset and ratio run it: the library entry with the dataset's and the ratio's
overrides merged in, and the model and recipe its cells train with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ltgrid.params.loading import DEFAULT_SCHEMA, deep_merge, fill_recipe

KEY = "ratio_overrides"


def as_rho(key: Any) -> float | None:
    """A ratio key as a number (YAML gives 50 or 12.5; '50' is accepted too), None if it is not one."""
    if isinstance(key, bool):
        return None
    try:
        return float(key)
    except (TypeError, ValueError):
        return None


def ratio_override(ds: dict[str, Any], method: str, rho: float | str | None) -> dict[str, Any]:
    """The changes a dataset makes to `method` at ratio `rho` ({} for none, or when rho is None)."""
    if rho is None:
        return {}
    for key, methods in (ds.get(KEY) or {}).items():
        if as_rho(key) == float(rho):
            return (methods or {}).get(method) or {}
    return {}


def dataset_methods(config: dict[str, Any], dataset: str) -> list[str]:
    return list(config["datasets"][dataset].get("methods") or config["methods"])


def method_order(config: dict[str, Any]) -> list[str]:
    """Every method of the grid once, in first-seen order over the datasets: rows and legends."""
    return list(dict.fromkeys(m for ds in config["datasets"] for m in dataset_methods(config, ds)))


def method_spec(config: dict[str, Any], dataset: str, method: str, rho: float | str | None = None) -> dict[str, Any]:
    """The method's library entry with the dataset's overrides merged in (its parts only), then,
    given a ratio, the dataset's overrides for that ratio (library.ratio_override)."""
    spec = {k: v for k, v in config["method_library"][method].items() if k != "description"}
    ds = config["datasets"][dataset]
    override = (ds.get("method_overrides") or {}).get(method, {})
    return deep_merge(deep_merge(spec, override), ratio_override(ds, method, rho))


def method_model(config: dict[str, Any], dataset: str, method: str, rho: float | str | None = None) -> str:
    """The model a method's cells train: its own `model` (a multi-expert net, say), else its stage-1
    base's (a stage 2 continues that very network), else the dataset's."""
    own = method_spec(config, dataset, method, rho).get("model")
    base = stage1_base(config, dataset, method)
    if own is None and base in config["method_library"]:  # an unknown base is reported by the checks
        own = method_spec(config, dataset, base, rho).get("model")
    return own or config["datasets"][dataset]["model"]


def method_recipe(config: dict[str, Any], dataset: str, method: str, rho: float | str | None = None,
                  schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """The dataset's recipe with the method's own `recipe` changes deep-merged over it (its authors'
    epochs, batch, lr, augmentation), defaults filled: the one recipe its cells train with."""
    own = method_spec(config, dataset, method, rho).get("recipe") or {}
    return fill_recipe(deep_merge(config["recipes"][config["datasets"][dataset]["recipe"]], own), schema_path)


def stage1_base(config: dict[str, Any], dataset: str, method: str) -> str | None:
    """The method whose finished cell is this method's stage 1 (`stage2.base`), if any."""
    return (method_spec(config, dataset, method).get("stage2") or {}).get("base")
