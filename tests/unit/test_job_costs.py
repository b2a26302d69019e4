"""The per-grid table of job costs, from Snakemake benchmark files written by hand."""

from __future__ import annotations

import pytest

from ltgrid.errors import ReportError
from ltgrid.report.job_costs import read_benchmark, write_job_costs

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench(root, cell: str, job: str, seconds: float, rss: str) -> str:
    path = root / "results/runs/g" / cell / "0123456789abcdef" / f"{job}.benchmark.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t1.0\n")
    return str(path)


def test_rows_carry_the_cell_the_job_its_seconds_and_peak_memory(tmp_path):
    paths = [
        bench(tmp_path, "digits/rho10/split0/ce/seed1", "train", 12.5, "321.4"),
        bench(tmp_path, "digits/rho10/split0/ce/seed0", "evaluate", 2.0, "NA"),
        bench(tmp_path, "digits/rho10/split0/ce/seed0", "train", 10.0, "300.0"),
    ]
    rows = write_job_costs(paths, tmp_path / "c.csv", tmp_path / "c.md")
    assert [(r["seed"], r["job"]) for r in rows] == [("0", "evaluate"), ("0", "train"), ("1", "train")]
    assert rows[2] == {"dataset": "digits", "rho": "10", "split": "0", "method": "ce", "seed": "1", "job": "train",
                       "wall_s": 12.5, "max_rss_mb": 321.4}
    assert rows[0]["max_rss_mb"] is None
    assert (tmp_path / "c.csv").read_text().splitlines()[1] == "digits,10,0,ce,0,evaluate,2.0,"
    assert "train: 2 jobs, 22.5 s of wall time in all" in (tmp_path / "c.md").read_text()


def test_a_file_outside_the_cell_layout_is_named(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text(HEADER)
    with pytest.raises(ReportError, match="x.tsv: not a per-cell benchmark file"):
        read_benchmark(path)
