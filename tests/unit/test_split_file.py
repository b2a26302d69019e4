"""A split file is tied to the labels it was drawn on, so it can never index a dataset prepared differently."""

from __future__ import annotations

import numpy as np
import pytest

from ltgrid.data.arrays import ArrayDataset, save_arrays
from ltgrid.data.splits import labels_digest, read_split, split_dataset
from ltgrid.errors import DataError

OPTIONS = {"n_max": 6, "val_per_class": 1, "test_holdout_per_class": 0, "mode": "profile"}


def dataset(path, train_y, test_y=(0, 1, 2), classes=("a", "b", "c")):
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    pixels = lambda n: np.zeros((n, 2, 2, 3), dtype=np.uint8)  # noqa: E731
    save_arrays(path, ArrayDataset(pixels(len(train_y)), train_y, pixels(len(test_y)), test_y, tuple(classes)))
    return path


def test_split_file_records_its_labels_and_reads_back_on_them(tmp_path) -> None:
    data = dataset(tmp_path / "d.npz", np.repeat([0, 1, 2], 7))
    written = split_dataset(data, "toy", 6.0, 0, OPTIONS, tmp_path / "s.json")
    read = read_split(tmp_path / "s.json", data)
    assert read["labels_sha256"] == labels_digest(data)
    assert read["counts"] == written["counts"] == [6, 2, 1]  # floor(6 * 6^(-i/2))


def test_digest_sees_labels_order_and_class_names_but_not_pixels(tmp_path) -> None:
    base = labels_digest(dataset(tmp_path / "a.npz", [0, 1, 2, 2]))
    assert labels_digest(dataset(tmp_path / "b.npz", [0, 1, 2, 2])) == base
    other = ArrayDataset(np.full((4, 2, 2, 3), 9, np.uint8), np.array([0, 1, 2, 2]), np.ones((3, 2, 2, 3), np.uint8),
                         np.array([0, 1, 2]), ("a", "b", "c"))
    save_arrays(tmp_path / "pixels.npz", other)
    assert labels_digest(tmp_path / "pixels.npz") == base
    assert labels_digest(dataset(tmp_path / "order.npz", [1, 0, 2, 2])) != base
    assert labels_digest(dataset(tmp_path / "test.npz", [0, 1, 2, 2], test_y=(0, 2, 1))) != base
    assert labels_digest(dataset(tmp_path / "names.npz", [0, 1, 2, 2], classes=("a", "b", "z"))) != base


def test_a_split_on_other_labels_is_refused_by_name(tmp_path) -> None:
    data = dataset(tmp_path / "d.npz", np.repeat([0, 1, 2], 7))
    split_dataset(data, "toy", 6.0, 0, OPTIONS, tmp_path / "s.json")
    dataset(data, np.repeat([2, 1, 0], 7))  # prepared again, differently
    with pytest.raises(DataError, match=r"s\.json was not drawn on the labels .*d\.npz holds now"):
        read_split(tmp_path / "s.json", data)
