"""Tables only from cells trained with the current params: a stale metrics.json stops the report.

Snakemake reruns a cell whose params changed, but only while it still sees the chain of
files (a failed job removes its outputs; `.snakemake/` can be lost). The tables rule
passes the fingerprint of every cell's current resolved recipe, and any metrics.json
recorded with another one is refused here, naming the cell and the command that rebuilds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ltgrid.errors import ReportError
from ltgrid.io import read_json
from ltgrid.cell_spec import fingerprint


class StaleCellError(ReportError):
    """A result on disk was computed for other params than the grid's current ones."""


def check_fresh(metrics_files: Sequence[str | Path], digests: Sequence[str]) -> None:
    """Raise StaleCellError listing each metrics.json whose recorded cell is not the current one."""
    if len(metrics_files) != len(digests):
        raise ReportError(f"{len(digests)} recipe fingerprints for {len(metrics_files)} metrics files")
    stale = [
        Path(path).parent for path, want in zip(metrics_files, digests)
        if fingerprint(read_json(path)["cell"]) != want
    ]
    if stale:
        folders = " ".join(str(d) for d in stale)
        raise StaleCellError(
            f"{len(stale)} cell(s) hold results computed for other params than the grid's current ones: "
            f"{folders}; no table was written. Retrain them: `rm -r {folders}` and rerun snakemake"
        )
