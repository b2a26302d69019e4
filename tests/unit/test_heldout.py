"""The held-out test slice (CIFAR's validation set), its feed, and normalisation settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ltgrid.data.arrays import ArrayDataset
from ltgrid.data.feed import InMemoryFeed, eval_arrays
from ltgrid.data.normalization import CIFAR_MEAN, CIFAR_STD, resolve_normalize
from ltgrid.data.splits import holdout_slice, make_split


def _test_labels(num_classes: int = 10, per_class: int = 1000) -> np.ndarray:
    return np.random.RandomState(7).permutation(np.repeat(np.arange(num_classes), per_class))


def test_holdout_is_balanced_seeded_and_disjoint_from_the_reported_test() -> None:
    y = _test_labels()
    held, rest = holdout_slice(y, 100, seed=0)
    assert np.bincount(y[held], minlength=10).tolist() == [100] * 10
    assert not set(held) & set(rest)
    assert sorted(held + rest) == list(range(len(y)))
    assert rest == sorted(rest) and len(rest) == 9000
    assert holdout_slice(y, 100, seed=0) == (held, rest)
    assert holdout_slice(y, 100, seed=1)[0] != held


def test_holdout_convention_by_hand() -> None:
    """One RandomState(seed), class by class in class order: shuffle the class's test indices, hold out the first k."""
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    rng = np.random.RandomState(3)
    expected = []
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        expected += idx[:2].tolist()
    held, rest = holdout_slice(y, 2, seed=3)
    assert held == expected and rest == sorted(set(range(8)) - set(expected))


def test_holdout_is_the_same_slice_at_every_ratio_and_leaves_training_alone() -> None:
    train_y = np.repeat(np.arange(10), 50)
    test_y = _test_labels(per_class=20)
    slices = []
    for rho in (10, 100):
        plain = make_split(train_y, rho, 0)
        held = make_split(train_y, rho, 0, test_y=test_y, test_holdout_per_class=5)
        assert held["train_indices"] == plain["train_indices"] and held["counts"] == plain["counts"]
        assert held["val_source"] == "test" and held["test_holdout_per_class"] == 5
        slices.append(held["val_indices"])
    assert slices[0] == slices[1]


def test_holdout_errors_name_the_problem() -> None:
    y = _test_labels(per_class=3)
    with pytest.raises(ValueError, match="class 0 has only 3 test images"):
        holdout_slice(y, 3, seed=0)
    with pytest.raises(ValueError, match="test_holdout_per_class must be an integer >= 1, got 0"):
        holdout_slice(y, 0, seed=0)
    with pytest.raises(ValueError, match="set only one"):
        make_split(np.repeat(np.arange(10), 50), 10, 0, n_max=40, val_per_class=5, test_y=y, test_holdout_per_class=1)


def _unique_image_dataset(num_classes: int = 3, train_per_class: int = 6, test_per_class: int = 5) -> ArrayDataset:
    """Every image carries its own index in its pixels, so a shared image is visible in the tensors."""
    def images(n: int, offset: int) -> np.ndarray:
        ids = np.arange(n) + offset
        x = np.zeros((n, 4, 4, 3), dtype=np.uint8)
        x[:, 0, 0, 0], x[:, 0, 1, 0] = ids % 256, ids // 256
        return x

    train_y = np.repeat(np.arange(num_classes), train_per_class)
    test_y = np.tile(np.arange(num_classes), test_per_class)
    return ArrayDataset(images(len(train_y), 0), train_y, images(len(test_y), 1000), test_y, tuple("abc"))


def test_no_image_is_in_both_the_heldout_and_the_reported_test_set() -> None:
    ds = _unique_image_dataset()
    split = make_split(ds.train_y, 2, 0, test_y=ds.test_y, test_holdout_per_class=2)
    sets = eval_arrays(ds, split)
    ident = {w: {int(a) + 256 * int(b) for a, b in zip(x[:, 0, 0, 0], x[:, 0, 1, 0])} for w, (x, _) in sets.items()}
    assert not ident["val"] & ident["test"]
    assert len(ident["val"]) == 6 and len(ident["test"]) == 9 and ident["val"] | ident["test"] == set(range(1000, 1015))
    assert np.bincount(sets["val"][1]).tolist() == [2, 2, 2]
    feed = InMemoryFeed(ds, split, torch.device("cpu"))
    assert len(feed.eval_labels("test")) == 9 and len(feed.eval_labels("val")) == 6
    bad = {**split, "test_indices": split["test_indices"] + split["val_indices"][:1]}
    with pytest.raises(ValueError, match="share test images"):
        eval_arrays(ds, bad)


def test_without_holdout_the_test_set_is_whole_and_val_comes_from_training() -> None:
    ds = _unique_image_dataset()
    sets = eval_arrays(ds, {"train_indices": [0, 1], "val_indices": [5, 11]})
    assert len(sets["test"][1]) == 15 and sets["val"][1].tolist() == [0, 1]


def test_normalize_presets_defaults_and_errors() -> None:
    assert resolve_normalize(None, "cifar10") == {"name": "cifar", "mean": list(CIFAR_MEAN), "std": list(CIFAR_STD)}
    assert resolve_normalize(None, "cifar100")["mean"] == [0.4914, 0.4822, 0.4465]
    assert resolve_normalize(None, "cifar10")["std"] == [0.2023, 0.1994, 0.2010]
    assert resolve_normalize(None, "sklearn_digits") == {"name": "split", "mean": None, "std": None}
    assert resolve_normalize(None, "listfile")["name"] == "imagenet"
    assert resolve_normalize({"mean": [0.5], "std": [0.25]}, "x") == {"name": "custom", "mean": [0.5], "std": [0.25]}
    with pytest.raises(ValueError, match="'cifar11'"):
        resolve_normalize("cifar11", "cifar10")
    with pytest.raises(ValueError, match="std > 0"):
        resolve_normalize({"mean": [0.5], "std": [0.0]}, "x")


def test_feed_normalises_by_the_constants_or_by_the_split() -> None:
    ds = _unique_image_dataset()
    split = {"train_indices": list(range(18)), "val_indices": []}
    const = InMemoryFeed(ds, split, torch.device("cpu"), normalize=resolve_normalize("cifar", "x"))
    x, _ = next(const.eval_batches("test", 1))
    expected = (ds.test_x[0].transpose(2, 0, 1) / 255.0 - np.array(CIFAR_MEAN)[:, None, None]) / np.array(CIFAR_STD)[:, None, None]
    assert torch.allclose(x[0].double(), torch.from_numpy(expected), atol=1e-6)
    own = InMemoryFeed(ds, split, torch.device("cpu"), normalize=resolve_normalize("split", "x"))
    pixels = ds.train_x.astype(np.float64) / 255.0
    assert torch.allclose(own.mean.double(), torch.from_numpy(pixels.mean(axis=(0, 1, 2))), atol=1e-6)
