"""Differences that beat seed noise (paired t intervals), the ablation report and the
published-inside-interval column, on hand-checkable numbers."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from ltgrid.report import ablation, compare, outputs, stats
from ltgrid.report import tables as R
from ltgrid.errors import ParamsError
from ltgrid.params.published import parse

T975 = {1: 12.706204736, 2: 4.302652730, 3: 3.182446305}  # Student t quantiles 0.975, n-1 degrees of freedom


def test_t_interval_matches_the_formula():
    iv = stats.t_interval([1.0, 2.0, 3.0])
    half = T975[2] * 1.0 / math.sqrt(3)
    assert (iv.mean, iv.n) == (2.0, 3) and iv.low == pytest.approx(2 - half) and iv.high == pytest.approx(2 + half)
    assert not iv.excludes_zero() and iv.contains(0.0) and not iv.contains(4.5)
    assert stats.t_interval([5.0, 5.5, 6.0, 6.5]).excludes_zero()
    one = stats.t_interval([3.0])
    assert not one.defined and not one.excludes_zero() and not one.contains(3.0)


def rows(values: dict[str, list[float]], ece: float = 5.0) -> pd.DataFrame:
    """A frame of cells: method -> top1_err per seed (seed = index), one dataset and ratio."""
    out = []
    for method, errs in values.items():
        for seed, err in enumerate(errs):
            out.append({"dataset": "digits", "rho": 10.0, "split_seed": 0, "method": method, "seed": seed,
                        "protocol": "final", "top1_err": err, "ece": ece + seed})
    return R.frame(out)


def test_comparison_pairs_seeds_and_marks_intervals_that_exclude_zero():
    df = rows({"ce": [20.0, 22.0, 21.0], "better": [18.0, 19.5, 18.5], "same": [21.0, 21.0, 22.0], "short": [15.0]})
    table = compare.comparison_table(df, "ce", "final", ["ce", "better", "same", "short"], "g")
    got = {r[0]: r[1:] for r in table.rows}
    assert list(got) == ["better", "same", "short"] and table.header == ["method", "top-1 error", "ECE"]
    d = [-2.0, -2.5, -2.5]  # better - ce, seed by seed
    half = T975[2] * pd.Series(d).std() / math.sqrt(3)
    mean = sum(d) / 3
    assert got["better"][0] == f"{mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}] *"
    assert got["same"][0].endswith("]") and "*" not in got["same"][0]  # differences 1, -1, 1: straddles 0
    assert got["short"][0] == "-5.00 (n = 1, no interval)"  # only seed 0 pairs
    assert got["better"][1] == "+0.00 [+0.00, +0.00]"  # identical ECE: a zero-width interval that contains 0
    assert "paired Student t" in " ".join(table.notes) and "n = 1, 3 paired seeds" in table.caption
    with pytest.raises(ValueError, match="reference method 'unimix_bayias' has no cells"):
        compare.comparison_table(df, "unimix_bayias", "final", [], "g")


def test_default_references_are_those_the_grid_runs():
    assert outputs.references(["ce", "mixup", "unimix_bayias"]) == ["ce", "unimix_bayias"]
    assert outputs.references(["mixup", "ce"]) == ["ce"] and outputs.references(["mixup"]) == []
    assert outputs.references(["ce", "x"], ["x"]) == ["x"]


def test_published_table_says_whether_the_figure_lies_in_the_interval():
    df = rows({"unimix_bayias": [12.0, 13.0, 14.0], "ce": [30.0]})
    pub = parse({"sources": {"s": {"cite": "c", "where": "w", "selection": "s"}},
                 "figures": [{"dataset": "digits", "rho": 10, "method": "unimix_bayias", "value": 13.5, "source": "s"},
                             {"dataset": "digits", "rho": 10, "method": "ce", "value": 31.0, "source": "s"}]})
    table = R.published_table(df, pub, "final", ["unimix_bayias", "ce"], "g")
    assert table.header[-3:] == ["reproduced 95% interval", "published inside", "same protocol"]
    got = {r[2]: r for r in table.rows}
    half = T975[2] / math.sqrt(3)
    assert got["unimix_bayias"][-3:-1] == [f"[{13 - half:.2f}, {13 + half:.2f}]", "yes"]
    assert got["ce"][-3:-1] == ["-", "-"]  # one seed: no interval
    pub2 = parse({"sources": {"s": {"cite": "c", "where": "w", "selection": "s"}},
                  "figures": [{"dataset": "digits", "rho": 10, "method": "unimix_bayias", "value": 20.0, "source": "s"}]})
    assert R.published_table(df, pub2, "final", ["unimix_bayias"], "g").rows[0][-2] == "no"


@pytest.mark.parametrize("source_protocol, table_protocol, says", [
    ("best_test", "best_test", "yes"),
    ("best_test", "final", "no: published is the best epoch on the test set; compare with the best_test table"),
    ("final", "best_val", "no: published is the final epoch; compare with the final table"),
    ("unknown", "final", "unknown (the source does not say how it picked the epoch)"),
    (None, "final", "unknown (the source does not say how it picked the epoch)"),
])
def test_published_table_says_which_reproduced_figure_is_comparable(source_protocol, table_protocol, says):
    """A best-test-epoch figure beside a final-epoch one is not a like-for-like comparison: the row says so."""
    source = {"cite": "c", "where": "w", "selection": "s"} | ({"protocol": source_protocol} if source_protocol else {})
    pub = parse({"sources": {"s": source},
                 "figures": [{"dataset": "digits", "rho": 10, "method": "ce", "value": 31.0, "source": "s"}]})
    df = rows({"ce": [30.0, 29.0]}).assign(protocol=table_protocol)
    table = R.published_table(df, pub, table_protocol, ["ce"], "g")
    assert table.rows[0][-1] == says


def test_a_source_protocol_outside_the_tables_is_refused():
    with pytest.raises(ParamsError, match=r"sources.s: protocol = 'best_epoch': must be one of final, best_val, best_test, unknown"):
        parse({"sources": {"s": {"cite": "c", "where": "w", "selection": "s", "protocol": "best_epoch"}}, "figures": []})


def write_cells(folder, grid_values) -> list:
    """metrics.json files of sweep cells: (alpha, tau) -> top1_err per seed."""
    files = []
    for (alpha, tau), errs in grid_values.items():
        for seed, err in enumerate(errs):
            name = f"s--alpha_{alpha}--tau_{tau}"
            cell = {"dataset": "digits", "rho": 10.0, "split_seed": 0, "seed": seed, "method": name,
                    "sweep": {"name": "s", "base": "unimix", "values": {"mixing.alpha": alpha, "mixing.tau": tau}}}
            path = folder / f"{name}_{seed}.json"
            path.write_text(json.dumps({"cell": cell, "protocols": {"final": {"top1_err": err, "ece": err / 10}}}))
            files.append(path)
    return files


def test_ablation_table_and_figure_mean_and_std_per_setting(tmp_path):
    files = write_cells(tmp_path, {(0.5, -0.5): [10.0, 12.0], (1.0, -0.5): [8.0, 8.0], (0.5, 0): [20.0, 22.0], (1.0, 0): [15.0, 17.0]})
    written = ablation.write_ablation_table(files, "s", "g", tmp_path / "t")
    md = (tmp_path / "t" / "ablation_s.md").read_text()
    assert "ablation s over mixing.alpha, mixing.tau" in md and "n = 2 seeds" in md
    assert "| digits | 10 | 0.5 | -0.5 | 11.00 ± 1.41 | 1.10 ± 0.14 |" in md
    assert "| digits | 10 | 1 | 0 | 16.00 ± 1.41 | 1.60 ± 0.14 |" in md
    assert len(written) == 4
    df, keys = ablation.sweep_rows(files, "s", "final")
    lines = ablation.figure_lines(ablation.summarise(df, keys), keys, "top1_err")
    assert lines[0][0] == "mixing.tau=-0.5" and lines[0][1] == [0.5, 1.0] and lines[0][2] == [11.0, 8.0]
    assert lines[1][0] == "mixing.tau=0" and lines[1][3] == pytest.approx([2 ** 0.5, 2 ** 0.5])
    png = ablation.write_ablation_figure(files, "s", "g", tmp_path / "f" / "digits_rho10.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="is not a variant of sweep 'other'"):
        ablation.sweep_rows(files, "other", "final")


def test_ablation_figure_of_a_categorical_sweep(tmp_path):
    files = []
    for mode, err in (("wrap", 10.0), ("clip", 12.0)):
        cell = {"dataset": "d", "rho": 100.0, "split_seed": 0, "seed": 0, "method": f"m--mode_{mode}",
                "sweep": {"name": "m", "base": "unimix", "values": {"mixing.mode": mode}}}
        path = tmp_path / f"{mode}.json"
        path.write_text(json.dumps({"cell": cell, "protocols": {"final": {"top1_err": err, "ece": 1.0}}}))
        files.append(path)
    assert ablation.write_ablation_figure(files, "m", "g", tmp_path / "m.png").stat().st_size > 0
