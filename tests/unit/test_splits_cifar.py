"""CIFAR-10-LT / CIFAR-100-LT splits: the paper's exact sizes, the seeded convention, the val rule."""

from __future__ import annotations

import numpy as np
import pytest

from ltgrid.data.splits import make_split

RHOS = (10, 50, 100, 200)
TOTALS = {
    "cifar10": (20_431, 13_996, 12_406, 11_203),
    "cifar100": (19_573, 12_608, 10_847, 9_502),
}
SHAPES = {"cifar10": (10, 5000), "cifar100": (100, 500)}


def _labels(dataset: str, interleaved: bool = True) -> np.ndarray:
    """CIFAR-shaped labels; interleaved like the official batches, or class by class like the image folders."""
    num_classes, per_class = SHAPES[dataset]
    y = np.repeat(np.arange(num_classes), per_class)
    return np.random.RandomState(123).permutation(y) if interleaved else y


@pytest.mark.parametrize("dataset", sorted(TOTALS))
def test_paper_train_sizes(dataset: str) -> None:
    y = _labels(dataset)
    n_max = SHAPES[dataset][1]
    for rho, total in zip(RHOS, TOTALS[dataset]):
        split = make_split(y, rho=rho, seed=0, n_max=n_max)
        assert sum(split["counts"]) == total == len(split["train_indices"]), (dataset, rho)
        idx = np.asarray(split["train_indices"])
        assert len(np.unique(idx)) == len(idx)
        assert np.bincount(y[idx], minlength=SHAPES[dataset][0]).tolist() == split["counts"]


def test_cifar10_rho100_per_class_counts() -> None:
    split = make_split(_labels("cifar10"), rho=100, seed=0, n_max=5000)
    assert split["counts"] == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_cifar100_rho200_tail_has_two_images() -> None:
    counts = make_split(_labels("cifar100"), rho=200, seed=0, n_max=500)["counts"]
    assert counts[0] == 500 and counts[-1] == 2 and counts == sorted(counts, reverse=True)


def test_seeded_shuffle_convention() -> None:
    """Seed s: one numpy RandomState(s), class by class, shuffle the class's indices, keep the first n_i."""
    y = _labels("cifar10")
    split = make_split(y, rho=100, seed=0, n_max=5000)
    np.random.seed(0)
    expected = []
    for c, n in enumerate(split["counts"]):
        idx = np.where(y == c)[0]
        np.random.shuffle(idx)
        expected.extend(idx[:n].tolist())
    assert split["train_indices"] == expected


def test_deterministic_from_seed() -> None:
    y = _labels("cifar100")
    a = make_split(y, rho=50, seed=3, n_max=500)
    assert a == make_split(y, rho=50, seed=3, n_max=500)
    assert a["train_indices"] != make_split(y, rho=50, seed=4, n_max=500)["train_indices"]


def test_same_images_whatever_the_order_across_classes() -> None:
    """Official batches interleave classes, image folders go class by class: same within-class picks."""
    interleaved, by_class = _labels("cifar10"), _labels("cifar10", interleaved=False)
    a = make_split(interleaved, rho=100, seed=0, n_max=5000)["train_indices"]
    b = make_split(by_class, rho=100, seed=0, n_max=5000)["train_indices"]

    def ranks(y: np.ndarray, picked: list[int]) -> list[list[int]]:
        out = []
        for c in range(10):
            members = np.flatnonzero(y == c)
            rank = {int(i): r for r, i in enumerate(members)}
            out.append(sorted(rank[i] for i in picked if y[i] == c))
        return out

    assert ranks(interleaved, a) == ranks(by_class, b)


def test_val_split_refused_when_head_class_has_nothing_left() -> None:
    with pytest.raises(ValueError, match=r"class 0 has only 0 images left out .* at most 4500"):
        make_split(_labels("cifar10"), rho=100, seed=0, n_max=5000, val_per_class=500)
    with pytest.raises(ValueError, match="val_per_class must be >= 0, got -1"):
        make_split(_labels("cifar10"), rho=100, seed=0, val_per_class=-1)


@pytest.mark.parametrize("dataset", sorted(TOTALS))
def test_val_split_from_left_out_images(dataset: str) -> None:
    """Balanced val from the images the LT split leaves out: disjoint, the same for every rho,
    and asking for it never changes the training images."""
    y = _labels(dataset)
    num_classes, per_class = SHAPES[dataset]
    val_n, n_max = per_class // 10, per_class - per_class // 10
    vals = []
    for rho in RHOS:
        plain = make_split(y, rho=rho, seed=0, n_max=n_max)
        with_val = make_split(y, rho=rho, seed=0, n_max=n_max, val_per_class=val_n)
        assert with_val["train_indices"] == plain["train_indices"]
        val = np.asarray(with_val["val_indices"])
        assert np.bincount(y[val], minlength=num_classes).tolist() == [val_n] * num_classes
        assert not set(val.tolist()) & set(with_val["train_indices"])
        vals.append(sorted(val.tolist()))
    assert all(v == vals[0] for v in vals)
