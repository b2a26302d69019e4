"""What one train job reads (dataset.npz, its split file, an MLflow store), made by the same
functions the workflow's rules call: for tests and benchmarks that run a cell without Snakemake."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltgrid import params
from ltgrid.data import prepare_dataset
from ltgrid.data.splits import split_dataset
from ltgrid.tracking.store import local_store


@dataclass(frozen=True)
class CellInputs:
    data: Path
    split: Path
    tracking: dict[str, str]


def cell_inputs(config: dict[str, Any], cell: params.Cell, work: str | Path, experiment: str) -> CellInputs:
    """prepare -> split -> tracking store for one cell of a loaded grid, in `work`."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    data, split = work / "dataset.npz", work / "split.json"
    prepare_dataset(params.dataset(config, cell.dataset)["source"], data)
    split_dataset(data, cell.dataset, float(cell.rho), cell.split, params.split_options(config, cell.dataset), split)
    return CellInputs(data, split, local_store(work, experiment))
