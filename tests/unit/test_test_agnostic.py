"""Test-agnostic evaluation (Zhang et al. 2022): re-sampled test distributions, Bayias's matched prior,
and the per-(dataset, rho) table and figure, on hand-checkable inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ltgrid.evaluate.test_agnostic import (
    distribution_counts, distributions, resample, agnostic_metrics, trained_log_prior,
)
from ltgrid.report import outputs as OUT
from ltgrid.report import tables as R


def test_distributions_are_forward_uniform_backward_at_the_protocols_imbalances() -> None:
    names = [n for n, _, _ in distributions()]
    assert names == ["forward50", "forward25", "forward10", "forward5", "forward2", "uniform",
                     "backward2", "backward5", "backward10", "backward25", "backward50"]


def test_distribution_counts_by_hand() -> None:
    # floor(4 * 2^(-c/2)): 4, 2.83 -> 2, 2
    assert distribution_counts(4, 3, 2, "forward") == [4, 2, 2]
    assert distribution_counts(4, 3, 2, "backward") == [2, 2, 4]
    assert distribution_counts(4, 3, 50, "uniform") == [4, 4, 4]
    assert distribution_counts(1000, 10, 50, "forward")[-1] == 20 and distribution_counts(1000, 10, 50, "backward")[0] == 20
    with pytest.raises(ValueError, match="'sideways'"):
        distribution_counts(4, 3, 2, "sideways")


def test_resample_is_seeded_class_by_class() -> None:
    y = np.array([0, 1, 0, 1, 0, 1])
    rng = np.random.RandomState(0)
    expected = []
    for c, n in enumerate([3, 1]):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        expected += idx[:n].tolist()
    assert resample(y, [3, 1]).tolist() == sorted(expected)
    with pytest.raises(ValueError, match="asks 4 images of class 1, which has 3"):
        resample(y, [1, 4])


def test_errors_and_matched_prior_by_hand() -> None:
    """Every sample has logits (0, 0.1): raw z always says class 1. Four test images per class.
    forward 2 keeps (4, 2): raw error 4/6; with q = (2/3, 1/3), z + log q = (-0.41, -1.00) says
    class 0: error 2/6. backward 2 keeps (2, 4): raw and matched both say class 1: error 2/6.
    forward 5 keeps (4, 0): raw error 100%, matched (log q_1 = -inf) 0%."""
    y = np.repeat([0, 1], 4)
    z = np.tile([0.0, 0.1], (8, 1))
    m = agnostic_metrics(z, y, np.log([0.5, 0.5]))
    assert m["ta_uniform_top1_err"] == m["ta_uniform_prior_top1_err"] == 50.0
    assert m["ta_forward2_top1_err"] == pytest.approx(400 / 6) and m["ta_forward2_prior_top1_err"] == pytest.approx(200 / 6)
    assert m["ta_backward2_top1_err"] == pytest.approx(200 / 6) == m["ta_backward2_prior_top1_err"]
    assert m["ta_forward5_top1_err"] == 100.0 and m["ta_forward5_prior_top1_err"] == 0.0
    assert m["ta_backward5_top1_err"] == 0.0
    assert not any("prior" in k for k in agnostic_metrics(z, y))  # no prior row for other losses


def test_trained_prior_is_bayias_only_and_follows_its_test_prior() -> None:
    assert trained_log_prior({"loss": {"name": "ce"}}, 3) is None
    assert np.allclose(trained_log_prior({"loss": {"name": "bayias"}}, 2), [math.log(0.5)] * 2)
    assert np.allclose(trained_log_prior({"loss": {"name": "bayias", "test_prior": [1, 3]}}, 2), np.log([0.25, 0.75]))


def _rows() -> list[dict]:
    rows = []
    for method, base, prior in (("ce", 10.0, None), ("bayias", 20.0, 5.0)):
        for seed in (0, 1):
            row = {"dataset": "d", "rho": 10.0, "split_seed": 0, "method": method, "seed": seed, "protocol": "final",
                   "shots_many": 100, "shots_few": 20}
            for i, (name, _, _) in enumerate(distributions()):
                row[f"ta_{name}_top1_err"] = base + i + seed
                if prior is not None:
                    row[f"ta_{name}_prior_top1_err"] = prior + seed
            rows.append(row)
    return rows


def test_table_rows_columns_and_values(tmp_path) -> None:
    df = R.frame(_rows())
    table = R.agnostic_table(df, "d", 10.0, ["ce", "bayias"], "g")
    assert table.header[1] == "forward 50" and table.header[6] == "uniform" and table.header[-1] == "backward 50"
    assert [r[0] for r in table.rows] == ["ce", "bayias", "bayias + p_test = test prior"]
    assert table.rows[0][1] == "10.50 ± 0.71" and table.rows[1][6] == "25.50 ± 0.71" and table.rows[2][11] == "5.50 ± 0.71"
    assert "Zhang et al. 2022" in table.caption and "final epoch" in table.caption and "n = 2 seeds" in table.caption
    assert "test_agnostic_d_rho10" in R.build_tables(df, ["ce", "bayias"], "g", ["final"])
    assert OUT.agnostic_stems([("d", "10"), ("d", "10"), ("a", "2.5")]) == ["test_agnostic_a_rho2.5", "test_agnostic_d_rho10"]


def test_figure_has_a_line_per_row_and_checks_lengths(tmp_path) -> None:
    from ltgrid.report.figures import agnostic_plot

    labels = [R.distribution_label(n) for n, _, _ in distributions()]
    path = agnostic_plot(labels, [("ce", list(range(11)), False), ("ce + prior", [1.0] * 11, True)], tmp_path / "f.png", "t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="has 2 values for 11 test distributions"):
        agnostic_plot(labels, [("ce", [1.0, 2.0], False)], tmp_path / "g.png", "t")
