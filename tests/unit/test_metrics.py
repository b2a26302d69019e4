"""Each metric against its equation on inputs small enough to check by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ltgrid.evaluate import calibration as C
from ltgrid.evaluate import metrics as M


# ---------------------------------------------------------------- accuracy


def test_accuracy_from_scores_and_from_predictions() -> None:
    probs = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
    labels = np.array([0, 1, 1, 0])
    assert M.accuracy(probs, labels) == 0.5
    assert M.accuracy(np.array([0, 1, 0, 1]), labels) == 0.5


def test_accuracy_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError, match="3 entries"):
        M.accuracy(np.array([0, 1, 0]), np.array([0, 1]))


def test_per_class_accuracy_by_hand_and_nan_for_untested_class() -> None:
    pred = np.array([0, 0, 1, 2, 2, 0])
    labels = np.array([0, 0, 1, 1, 2, 2])
    acc = M.per_class_accuracy(pred, labels, num_classes=4)
    np.testing.assert_allclose(acc[:3], [1.0, 0.5, 0.5])
    assert math.isnan(acc[3])


def test_per_class_accuracy_rejects_label_out_of_range() -> None:
    with pytest.raises(ValueError, match="label 5 is out of range"):
        M.per_class_accuracy(np.array([0, 1]), np.array([0, 5]), num_classes=3)


# ---------------------------------------------------------------- groups


def test_shot_groups_boundaries_at_exactly_20_and_100() -> None:
    counts = [500, 101, 100, 50, 20, 19, 1]
    g = M.shot_groups(counts)
    assert g["many"].tolist() == [0, 1]
    assert g["medium"].tolist() == [2, 3, 4]
    assert g["few"].tolist() == [5, 6]


def test_shot_groups_rejects_bad_thresholds_and_counts() -> None:
    with pytest.raises(ValueError, match="few threshold \\(200\\)"):
        M.shot_groups([10, 5], many=100, few=200)
    with pytest.raises(ValueError, match="-3"):
        M.shot_groups([10, -3])


def test_thirds_groups_c10_and_c100_are_the_authors_boundaries() -> None:
    g = M.thirds_groups(10)
    assert g["head"].tolist() == [0, 1, 2]
    assert g["medium"].tolist() == [3, 4, 5, 6]
    assert g["tail"].tolist() == [7, 8, 9]
    g = M.thirds_groups(100)
    assert g["head"].tolist() == list(range(33))
    assert g["medium"].tolist() == list(range(33, 66))
    assert g["tail"].tolist() == list(range(66, 100))


def test_thirds_groups_rule_for_other_class_counts() -> None:
    """floor(C/3), floor(2C/3): C=3 -> one class each, C=8 -> [0,2), [2,5), [5,8), C=1000 -> 333 / 333 / 334."""
    assert [M.thirds_groups(3)[k].tolist() for k in ("head", "medium", "tail")] == [[0], [1], [2]]
    assert [M.thirds_groups(8)[k].tolist() for k in ("head", "medium", "tail")] == [[0, 1], [2, 3, 4], [5, 6, 7]]
    g = M.thirds_groups(1000)
    assert (g["medium"][0], g["tail"][0], g["tail"].size) == (333, 666, 334)


def test_thirds_groups_rejects_fewer_than_three_classes() -> None:
    with pytest.raises(ValueError, match="got 2"):
        M.thirds_groups(2)


def test_shot_accuracy_means_and_none_for_empty_group() -> None:
    acc = np.array([1.0, 0.5, np.nan, 0.0])
    groups = {"a": np.array([0, 1]), "b": np.array([2, 3]), "c": np.array([], dtype=int), "d": np.array([2])}
    out = M.shot_accuracy(acc, groups)
    assert out == {"a": 0.75, "b": 0.0, "c": None, "d": None}


# ---------------------------------------------------------------- calibration


def test_calibration_bins_edge_goes_to_lower_bin_and_zero_to_first() -> None:
    # 4 bins: (0, .25], (.25, .5], (.5, .75], (.75, 1]
    conf = np.array([0.0, 0.25, 0.5, 0.5000001, 1.0])
    bins = C.calibration_bins(conf, np.ones(5, bool), n_bins=4)
    assert bins["counts"].tolist() == [2, 1, 1, 1]
    np.testing.assert_allclose(bins["edges"], [0, 0.25, 0.5, 0.75, 1.0])


def test_calibration_bins_every_computed_edge_lands_in_lower_bin() -> None:
    bins = C.calibration_bins(np.array([0.5]), np.array([1]), n_bins=15)
    edges = bins["edges"]
    b = C.calibration_bins(edges[1:], np.ones(15), n_bins=15)
    assert b["counts"].tolist() == [1] * 15


def test_ece_mce_four_samples_by_hand() -> None:
    # 2 bins: (0, .5], (.5, 1].
    # bin 0: conf .3 (right), .4 (wrong) -> acc .5, conf .35, gap .15
    # bin 1: conf .9 (right), .7 (wrong) -> acc .5, conf .8, gap .30
    # ECE = 2/4*.15 + 2/4*.30 = .225; MCE = .30
    conf = np.array([0.3, 0.4, 0.9, 0.7])
    correct = np.array([1, 0, 1, 0])
    bins = C.calibration_bins(conf, correct, n_bins=2)
    np.testing.assert_allclose(bins["acc"], [0.5, 0.5])
    np.testing.assert_allclose(bins["conf"], [0.35, 0.8])
    assert C.ece(bins) == pytest.approx(0.225)
    assert C.mce(bins) == pytest.approx(0.30)


def test_ece_mce_ignore_empty_bins_and_accept_json_form() -> None:
    # 15 bins; one sample at .95 right, one at .95 wrong -> bin 14: acc .5 conf .95.
    bins = C.calibration_bins(np.array([0.95, 0.95]), np.array([True, False]))
    assert C.ece(bins) == pytest.approx(0.45)
    assert C.mce(bins) == pytest.approx(0.45)
    as_json = json.loads(json.dumps({k: (np.where(np.isnan(v), None, v).tolist() if k in ("acc", "conf") else np.asarray(v).tolist())
                                      for k, v in bins.items() if k != "n_bins"}))
    assert C.ece(as_json) == pytest.approx(0.45)


def test_perfectly_calibrated_bin_has_zero_ece() -> None:
    bins = C.calibration_bins(np.array([0.75] * 4), np.array([1, 1, 1, 0]), n_bins=4)
    assert C.ece(bins) == pytest.approx(0.0)


def test_calibration_bins_reject_confidence_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match="1.2"):
        C.calibration_bins(np.array([0.5, 1.2]), np.array([1, 0]))


def test_nll_of_perfect_one_hot_is_zero_and_miss_is_clipped() -> None:
    probs = np.eye(3)
    assert C.nll(probs, np.array([0, 1, 2])) == 0.0
    # all three wrong: -log(1e-12) each
    assert C.nll(probs, np.array([1, 2, 0])) == pytest.approx(-math.log(1e-12))


def test_nll_by_hand() -> None:
    probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    assert C.nll(probs, np.array([0, 1])) == pytest.approx((math.log(2) - math.log(0.75)) / 2)


def test_brier_by_hand() -> None:
    # row 0, y=0: (.7-1)^2 + .2^2 + .1^2 = .09+.04+.01 = .14
    # row 1, y=2: .5^2 + .5^2 + (0-1)^2 = 1.5
    probs = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]])
    assert C.brier(probs, np.array([0, 2])) == pytest.approx((0.14 + 1.5) / 2)


def test_probs_validation_names_the_bad_row() -> None:
    with pytest.raises(ValueError, match="row 1 sums to 1.5"):
        C.nll(np.array([[0.5, 0.5], [1.0, 0.5]]), np.array([0, 0]))
    with pytest.raises(ValueError, match="2-D"):
        C.brier(np.array([0.5, 0.5]), np.array([0]))
    with pytest.raises(ValueError, match="non-finite"):
        C.nll(np.array([[np.nan, 1.0]]), np.array([0]))


# ---------------------------------------------------------------- metrics.json


def _toy() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # 3 classes, train counts 200 (many), 50 (medium), 5 (few); two test images each.
    probs = np.array(
        [
            [0.9, 0.05, 0.05],  # y0 right, conf .9
            [0.6, 0.3, 0.1],  # y0 right, conf .6
            [0.7, 0.2, 0.1],  # y1 wrong, conf .7
            [0.2, 0.8, 0.0],  # y1 right, conf .8
            [0.5, 0.1, 0.4],  # y2 wrong, conf .5
            [0.6, 0.1, 0.3],  # y2 wrong, conf .6
        ]
    )
    return probs, np.array([0, 0, 1, 1, 2, 2]), np.array([200, 50, 5])


def test_compute_metrics_values_and_units() -> None:
    probs, labels, counts = _toy()
    m = M.compute_metrics(probs, labels, counts, n_bins=2)
    assert m["top1_acc"] == pytest.approx(50.0)
    assert m["top1_err"] == pytest.approx(50.0)
    assert (m["many_acc"], m["medium_acc"], m["few_acc"]) == pytest.approx((100.0, 50.0, 0.0))
    assert (m["n_classes_many"], m["n_classes_medium"], m["n_classes_few"]) == (1, 1, 1)
    assert (m["thirds_head_acc"], m["thirds_medium_acc"], m["thirds_tail_acc"]) == pytest.approx((100.0, 50.0, 0.0))
    assert m["per_class_acc"] == pytest.approx([100.0, 50.0, 0.0])
    # bins (0,.5], (.5,1]: bin0 = {.5 wrong}: gap .5; bin1 = {.9 R,.6 R,.7 W,.8 R,.6 W}: acc .6, conf .72, gap .12
    assert m["reliability"]["counts"] == [1, 5]
    assert m["ece"] == pytest.approx(100 * (1 / 6 * 0.5 + 5 / 6 * 0.12))
    assert m["mce"] == pytest.approx(50.0)
    # top-1 probabilities .9 .6 .7 .8 .5 .6: mean .6833 against 50% accuracy, overconfident
    assert m["mean_conf"] == pytest.approx(100 * 4.1 / 6)
    assert m["nll"] == pytest.approx(C.nll(probs, labels))
    assert m["brier"] == pytest.approx(C.brier(probs, labels))
    assert m["ece_bins"] == {"n_bins": 2, "convention": "equal-width, (b_{k-1}, b_k]",
                             "adaptive": C.ADAPTIVE_CONVENTION, "classwise": C.CLASSWISE_CONVENTION}
    # over-confidence: bin0 1/6 * .5 * max(.5 - 0, 0); bin1 5/6 * .72 * (.72 - .6)
    assert m["oe"] == pytest.approx(100 * (1 / 6 * 0.5 * 0.5 + 5 / 6 * 0.72 * 0.12))
    assert m["classwise_ece"] == pytest.approx(100 * C.classwise_ece(probs, labels, 2))
    assert m["adaptive_ece"] == pytest.approx(100 * C.adaptive_ece(probs.max(1), probs.argmax(1) == labels, 2))


def test_compute_metrics_is_json_ready_with_none_for_empty() -> None:
    probs, labels, counts = _toy()
    counts = np.array([200, 150, 120])  # no medium, no few class
    m = M.compute_metrics(probs, labels, counts)
    text = json.dumps(m, allow_nan=False)
    back = json.loads(text)
    assert back["medium_acc"] is None and back["few_acc"] is None
    assert back["n_classes_many"] == 3
    assert len(back["reliability"]["acc"]) == 15
    assert back["reliability"]["acc"][0] is None


def test_compute_metrics_rejects_class_count_mismatch() -> None:
    probs, labels, _ = _toy()
    with pytest.raises(ValueError, match="train_counts has 2 classes but probs has 3"):
        M.compute_metrics(probs, labels, np.array([10, 5]))


def test_compute_metrics_rejects_logits() -> None:
    with pytest.raises(ValueError, match="not logits"):
        M.compute_metrics(np.array([[2.0, -1.0, 0.5]]), np.array([0]), np.array([1, 1, 1]))


# ---------------------------------------------------------------- the calibration suite (issue 23)


def test_overconfidence_error_by_hand() -> None:
    """Confidences .9 R, .9 W, .3 R in 2 bins: (0, .5] holds .3 (accuracy 1 > confidence: adds 0);
    (.5, 1] holds the .9s (accuracy .5): 2/3 * .9 * .4 = .24. The ECE counts both bins: .5."""
    bins = C.calibration_bins(np.array([0.9, 0.9, 0.3]), np.array([1, 0, 1]), n_bins=2)
    assert C.overconfidence_error(bins) == pytest.approx(2 / 3 * 0.9 * 0.4)
    assert C.ece(bins) == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.7)
    under = C.calibration_bins(np.array([0.6, 0.7]), np.array([1, 1]), n_bins=2)
    assert C.overconfidence_error(under) == 0.0 and C.ece(under) == pytest.approx(0.35)


def test_classwise_ece_by_hand() -> None:
    """4 samples, 3 classes, 2 bins; per class, |sum of hits - sum of p_k| / N in each bin:
    class 0 p (.6 .2 .5 .1), hits (1 0 1 0): (0,.5] |1 - .8| / 4 + (.5,1] |1 - .6| / 4 = .15;
    class 1 p (.3 .7 .1 .2), no hits: .6 / 4 + .7 / 4 = .325; class 2 p (.1 .1 .4 .7), hits
    (0 1 0 1): |1 - .6| / 4 + |1 - .7| / 4 = .175. Mean over classes .65 / 3."""
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4], [0.1, 0.2, 0.7]])
    assert C.classwise_ece(probs, np.array([0, 2, 0, 2]), n_bins=2) == pytest.approx(0.65 / 3)
    assert C.classwise_ece(np.eye(3), np.arange(3)) == 0.0


def test_adaptive_bins_are_equal_mass_by_rank() -> None:
    """Confidences .9 R, .2 W, .6 R, .8 W, .4 R, .95 R in 3 equal-mass bins of 2 (sorted):
    {.2 W, .4 R} gap |.5 - .3|, {.6 R, .8 W} gap |.5 - .7|, {.9, .95 both R} gap .075: (.2 + .2 + .075) / 3."""
    conf, ok = np.array([0.9, 0.2, 0.6, 0.8, 0.4, 0.95]), np.array([1, 0, 1, 0, 1, 1])
    bins = C.adaptive_bins(conf, ok, n_bins=3)
    assert bins["counts"].tolist() == [2, 2, 2]
    np.testing.assert_allclose(bins["conf"], [0.3, 0.7, 0.925])
    assert C.adaptive_ece(conf, ok, n_bins=3) == pytest.approx((0.2 + 0.2 + 0.075) / 3)
    # 7 samples in 3 bins: 3, 2, 2; ties split by sample order, every sample in exactly one bin
    tied = C.adaptive_bins(np.full(7, 0.5), np.array([1, 1, 1, 0, 0, 0, 0]), n_bins=3)
    assert tied["counts"].tolist() == [3, 2, 2] and tied["acc"].tolist() == [1.0, 0.0, 0.0]
    # fewer samples than bins: empty bins add nothing
    assert C.adaptive_ece(np.array([0.7]), np.array([0]), n_bins=15) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="confidence must lie in"):
        C.adaptive_ece(np.array([1.5]), np.array([1]))


def _random_probs(n: int, k: int, scale: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * scale
    p = np.exp(z - z.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True), rng.integers(0, k, size=n)


@pytest.mark.parametrize("scale", [1.0, 3.0, 5.0])
def test_ece_mce_and_classwise_ece_agree_with_torchmetrics(scale: float) -> None:
    """torchmetrics 1.9.0: MulticlassCalibrationError (top-label, l1 = ECE, max = MCE) and, per class,
    BinaryCalibrationError on p_k against [y = k], whose mean over classes is the classwise ECE.
    Its bins are [lo, hi) (ours (lo, hi]), random float64 confidences never sit on an edge; it rounds
    confidences to float32 and gives 1.0 a bin of its own, so no case here has one that rounds to 1.0
    (at logit scale 8 some do, and MCE differs by that convention alone)."""
    tm = pytest.importorskip("torchmetrics", reason="torchmetrics==1.9.0 (the test extra) is not installed")
    import torch
    from torchmetrics.functional.classification import binary_calibration_error, multiclass_calibration_error

    probs, labels = _random_probs(3000, 10, scale, seed=int(scale))
    assert (probs.astype(np.float32) < 1).all()
    p, y = torch.from_numpy(probs), torch.from_numpy(labels)
    bins = C.calibration_bins(probs.max(1), probs.argmax(1) == labels, 15)
    for norm, ours in (("l1", C.ece(bins)), ("max", C.mce(bins))):
        theirs = float(multiclass_calibration_error(p, y, num_classes=10, n_bins=15, norm=norm))
        assert ours == pytest.approx(theirs, abs=1e-5), (norm, tm.__version__)
    per_class = [float(binary_calibration_error(p[:, k].contiguous(), (y == k).long(), n_bins=15)) for k in range(10)]
    assert C.classwise_ece(probs, labels, 15) == pytest.approx(float(np.mean(per_class)), abs=1e-5)
