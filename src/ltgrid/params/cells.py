"""The grid's cells and what one cell is made from, fully resolved: the train job's input, MLflow's
params, and (its fingerprint) the key in the cell's folder name."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from ltgrid.cell_files import CELL_DIR
from ltgrid.cell_spec import CellSpec, fingerprint
from ltgrid.data.normalization import resolve_normalize
from ltgrid.methods.spec import filled_spec
from ltgrid.params import plugins, sweeps
from ltgrid.params.library import dataset_methods, method_model, method_recipe, method_spec, stage1_base
from ltgrid.params.loading import dataset, format_rho



@dataclass(frozen=True, order=True)
class Cell:
    """One training run of the grid."""

    dataset: str
    rho: str
    split: int
    method: str
    seed: int

    def path(self, grid: str, key: str) -> str:
        return CELL_DIR.format(grid=grid, dataset=self.dataset, rho=self.rho, split=self.split,
                               method=self.method, seed=self.seed, key=key)


def split_seeds(config: dict[str, Any], name: str) -> list[int]:
    return list(dataset(config, name)["split"]["seeds"])


def cells(config: dict[str, Any]) -> list[Cell]:
    out = []
    for ds_name, ds in config["datasets"].items():
        for rho, split, method, seed in itertools.product(
            ds["ratios"], split_seeds(config, ds_name), dataset_methods(config, ds_name), config["seeds"]
        ):
            out.append(Cell(ds_name, format_rho(rho), split, method, seed))
    return out


def resolve_cell(config: dict[str, Any], cell: Cell) -> dict[str, Any]:
    """Everything one training run needs, fully resolved: this is what MLflow logs as params."""
    ds = dataset(config, cell.dataset)
    resolved = {
        "grid": config["grid"],
        "dataset": cell.dataset,
        "rho": float(cell.rho),
        "split_seed": cell.split,
        "method": cell.method,
        "seed": cell.seed,
        "model": method_model(config, cell.dataset, cell.method, cell.rho),
        "recipe_name": ds["recipe"],
        "recipe": method_recipe(config, cell.dataset, cell.method, cell.rho),
        "method_spec": filled_spec(cell.method, method_spec(config, cell.dataset, cell.method, cell.rho)),
        "shots": ds["shots"],
        "val_per_class": ds["split"]["val_per_class"],
        "test_holdout_per_class": ds["split"]["test_holdout_per_class"],
        "normalize": resolve_normalize(ds.get("normalize"), ds["source"]["kind"]),
        "data_key": split_key(config, cell.dataset),  # the source and split options: which images
        **base_fields(config, cell),
    }
    return {**resolved, **extension_fields(config, resolved)}


def resolve_spec(config: dict[str, Any], cell: Cell) -> CellSpec:
    """The cell as the typed contract the train and evaluate stages read (ltgrid.cell_spec)."""
    return CellSpec.from_dict(resolve_cell(config, cell))


def extension_fields(config: dict[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """A sweep variant's swept values and the plugin modules a cell uses: present only when
    there are some, so cells of plain built-in methods keep the recipe they always had."""
    out: dict[str, Any] = {}
    variant = sweeps.variants(config).get(resolved["method"])
    if variant is not None:
        out["sweep"] = variant.record()
    used = plugins.cell_plugins(config, resolved)
    if used:
        out["plugins"] = used
        # their code is part of what the cell is made from: an edited plugin is a new cell folder
        out["plugin_code"] = plugins.code_digest(used)
    return out


def cell_key(resolved: dict[str, Any]) -> str:
    """The key in a cell's folder name (CELL_DIR): the fingerprint of its resolved recipe."""
    return fingerprint(resolved)


def base_fields(config: dict[str, Any], cell: Cell) -> dict[str, Any]:
    """For a stage-2 method on a shared stage 1: the base method and its spec (a change reruns us)."""
    base = stage1_base(config, cell.dataset, cell.method)
    if base is None:
        return {}
    return {"base_method": base, "base_method_spec": filled_spec(base, method_spec(config, cell.dataset, base, cell.rho))}


def split_params(config: dict[str, Any], name: str) -> dict[str, Any]:
    """What a split file's indices depend on besides its mode (Snakemake reruns the split when
    it changes), every key given."""
    split = dataset(config, name)["split"]
    return {"n_max": split.get("n_max"), "val_per_class": split["val_per_class"],
            "test_holdout_per_class": split["test_holdout_per_class"]}


def split_options(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The `--options` of `python -m ltgrid split`: split_params and the split mode, every key given."""
    return {**split_params(config, name), "mode": dataset(config, name)["split"]["mode"]}


def raw_path(config: dict[str, Any], dataset: str) -> str:
    """A prepared dataset, under its grid (each grid's data is its own DVC stage's output) and
    keyed by its source, so a failed prepare for other params cannot remove the data in use."""
    return f"data/raw/{config['grid']}/{dataset}/{fingerprint(config['datasets'][dataset]['source'])}/dataset.npz"


def split_key(config: dict[str, Any], dataset: str) -> str:
    ds = config["datasets"][dataset]
    return fingerprint({"source": ds["source"], "split": split_params(config, dataset), "mode": (ds.get("split") or {}).get("mode")})


def split_path(config: dict[str, Any], dataset: str, rho: str, split: int | str) -> str:
    """A split file, keyed by the source and split options it is made from (as raw_path)."""
    return f"data/splits/{config['grid']}/{dataset}/{split_key(config, dataset)}/rho{rho}_split{split}.json"
