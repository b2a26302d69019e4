"""Tables rebuilt from the MLflow store alone: `tracking.grid` gives each cell's latest evaluated
run as rows; this builds the same frame `tables.cell_rows` builds from metrics.json files."""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from ltgrid.errors import ReportError
from ltgrid.report.rows import frame
from ltgrid.tracking.grid import run_rows


def rows_from_runs(runs: pd.DataFrame) -> pd.DataFrame:
    rows = run_rows(runs)
    if not rows:
        raise ReportError("no evaluated run to tabulate")
    return frame(rows)


def method_order(spec: dict | None, methods: Iterable[str] | None, runs: pd.DataFrame) -> list[str]:
    """--methods first, then the recorded grid's order, else the order the runs were created in."""
    if methods:
        return list(methods)
    if spec is not None:
        return list(spec["methods"])
    return list(dict.fromkeys(runs.sort_values("start_time")["tags.method"]))
