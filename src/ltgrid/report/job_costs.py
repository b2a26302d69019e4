"""Wall time and peak memory of every train and evaluate job of a grid, from Snakemake's
`benchmark:` files (one TSV per job: header `s h:m:s max_rss ...`, max_rss in MB), as one table."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Iterable

from ltgrid.cell_files import BENCHMARK_PATH, CELL_DIR
from ltgrid.errors import ReportError
from ltgrid.io import write_text

COLUMNS = ["dataset", "rho", "split", "method", "seed", "job", "wall_s", "max_rss_mb"]


def read_benchmark(path: str | Path) -> dict[str, Any]:
    """One job's row: the cell from the file's path, seconds and peak RSS from its last line."""
    match = BENCHMARK_PATH.search(Path(path).as_posix())
    if match is None:
        raise ReportError(f"{path}: not a per-cell benchmark file ({CELL_DIR}/<job>.benchmark.tsv)")
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text()), delimiter="\t"))
    if not rows or "s" not in rows[-1]:
        raise ReportError(f"{path}: no benchmark line with an `s` column")
    rss = rows[-1].get("max_rss", "NA")
    cell = {k: v for k, v in match.groupdict().items() if k in COLUMNS}
    return {**cell, "wall_s": float(rows[-1]["s"]), "max_rss_mb": None if rss in ("NA", "", None) else float(rss)}


def job_costs(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    rows = [read_benchmark(p) for p in paths]
    return sorted(rows, key=lambda r: (r["dataset"], float(r["rho"]), int(r["split"]), r["method"], int(r["seed"]), r["job"]))


def write_job_costs(paths: Iterable[str | Path], csv_path: str | Path, md_path: str | Path) -> list[dict[str, Any]]:
    """cells x jobs as CSV and Markdown, plus each job kind's total wall time in the Markdown."""
    rows = job_costs(paths)
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    write_text(csv_path, out.getvalue())
    fmt = lambda v: "n/a" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in COLUMNS) + " |" for r in rows]
    for job in sorted({r["job"] for r in rows}):
        total = sum(r["wall_s"] for r in rows if r["job"] == job)
        lines.append(f"\n{job}: {sum(r['job'] == job for r in rows)} jobs, {total:.1f} s of wall time in all")
    write_text(md_path, "\n".join(lines) + "\n")
    return rows
