"""A damaged file the pipeline reads back is named in one line (a DamagedFileError), never a
traceback from inside zipfile, zlib or json, and `python -m ltgrid` says it and exits 2."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest

from ltgrid.data.arrays import ArrayDataset, load_arrays, save_arrays
from ltgrid.errors import DamagedFileError
from ltgrid.io import open_npz, read_json, write_json


@pytest.fixture
def npz(tmp_path):
    path = tmp_path / "dataset.npz"
    rng = np.random.default_rng(0)
    pixels = lambda n: rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)  # noqa: E731
    save_arrays(path, ArrayDataset(pixels(40), np.arange(40) % 4, pixels(8), np.arange(8) % 4, ("a", "b", "c", "d")))
    return path


def test_a_whole_file_reads_back(npz) -> None:
    assert load_arrays(npz).train_y.tolist() == (np.arange(40) % 4).tolist()


@pytest.mark.parametrize("damage", ["truncated", "empty", "text", "member"])
def test_damage_is_named_in_one_line(npz, damage) -> None:
    data = npz.read_bytes()
    if damage == "truncated":
        npz.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        npz.write_bytes(b"")
    elif damage == "text":
        npz.write_text("not an archive\n")
    else:  # a zip whose member's bytes are corrupt: found only when that array is read
        with zipfile.ZipFile(npz) as z:
            info = z.getinfo("train_x.npy")
        start = info.header_offset + 30 + len(info.filename) + 200
        npz.write_bytes(data[:start] + bytes(b ^ 0xFF for b in data[start:start + 64]) + data[start + 64:])
    with pytest.raises(DamagedFileError, match=rf"{npz.name} is damaged or not the file expected .*delete it and rerun"):
        load_arrays(npz)


def test_a_missing_array_is_named(npz) -> None:
    with pytest.raises(DamagedFileError, match=r"no array 'predictions'"):
        with open_npz(npz) as z:
            z["predictions"]


def test_other_errors_in_the_block_keep_their_type(npz) -> None:
    with pytest.raises(KeyError, match="unrelated"):
        with open_npz(npz):
            {}["unrelated"]
    with pytest.raises(ValueError, match="a bug"):
        with open_npz(npz):
            raise ValueError("a bug")


def test_truncated_json_is_named(tmp_path) -> None:
    path = tmp_path / "run.json"
    write_json(path, {"cell": {"method": "ce"}})
    path.write_text(path.read_text()[:7])
    with pytest.raises(DamagedFileError, match=r"run\.json is not valid JSON .*delete it and rerun"):
        read_json(path)


def test_the_cli_says_it_in_one_line(tmp_path, npz) -> None:
    npz.write_bytes(npz.read_bytes()[:100])
    options = '{"n_max": 10, "val_per_class": 0, "test_holdout_per_class": 0, "mode": "profile"}'
    proc = subprocess.run([sys.executable, "-m", "ltgrid", "split", "--data", str(npz), "--dataset", "toy", "--rho", "10",
                           "--seed", "0", "--options", options, "--out", str(tmp_path / "s.json")], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith("error: ") and "Traceback" not in proc.stderr
    assert "dataset.npz is damaged" in proc.stderr and not (tmp_path / "s.json").exists()
