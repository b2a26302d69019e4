"""One cell of a grid, fully resolved: the contract between the stages.

`params.resolve_cell` builds it once, when the grid is read, from the grid file with every
recipe default filled; its dict form (`to_dict`) is the train job's `--cell` JSON, the cell run's
MLflow params, what run.json, metrics.json and the checkpoint record, and, fingerprinted (`key`),
the key in the cell's folder name (ltgrid.cell_files). The train and evaluate stages read its
fields, never the grid. Torch-free, so the workflow's parse can build it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from ltgrid.errors import ContractError


def fingerprint(obj: Any) -> str:
    """16 hex digits naming a JSON-able value: a resolved cell (its folder's key, compared with the
    params now), or what prepared data is made from (its folder name)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CellSpec:
    grid: str
    dataset: str
    rho: float
    split_seed: int
    method: str
    seed: int
    model: str  # the method's own (a multi-expert net), its stage-1 base's, or the dataset's
    recipe_name: str  # the dataset's recipe it started from, for messages
    recipe: dict[str, Any]  # every key filled: epochs, batch_size, optimizer, lr_schedule, augment, ...
    method_spec: dict[str, Any]  # the library entry with the dataset's and the ratio's overrides, every part filled
    shots: dict[str, int]
    val_per_class: int
    test_holdout_per_class: int
    normalize: dict[str, Any] | None
    data_key: str  # the source and split options: which images
    # present only when they apply, so a plain built-in method's cell keeps the key it always had
    base_method: str | None = None  # a stage 2 on a shared stage 1: the base's finished cell
    base_method_spec: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None  # a sweep variant's swept values
    plugins: list[str] | None = None  # the plugin modules its parts come from
    plugin_code: str | None = None  # and their code's digest

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CellSpec":
        """A cell from its dict form; one written by another version of the project is named."""
        known = {f.name for f in fields(cls)}
        unknown, missing = sorted(set(data) - known), sorted(k for k in known - set(data) if k not in _OPTIONAL)
        if unknown or missing:
            raise ContractError(f"cell {data.get('grid')}/{data.get('dataset')}/{data.get('method')}: not a resolved cell of "
                              f"this version (unknown {unknown}, missing {missing}); rerun the grid to resolve it again")
        return cls(**data)

    @classmethod
    def of(cls, cell: "CellSpec | dict[str, Any]") -> "CellSpec":
        return cell if isinstance(cell, CellSpec) else cls.from_dict(cell)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not (k in _OPTIONAL and v is None)}

    @property
    def key(self) -> str:
        """The key in the cell's folder name: the fingerprint of everything it is made from."""
        return fingerprint(self.to_dict())

    @property
    def label(self) -> str:
        return f"{self.grid}/{self.dataset}/rho{self.rho:g}/split{self.split_seed}/{self.method}/seed{self.seed}"

    @property
    def batch_size(self) -> int:
        return int(self.recipe["batch_size"])


_OPTIONAL = ("base_method", "base_method_spec", "sweep", "plugins", "plugin_code")
