"""CIFAR-10/100 official-format archives and image-folder archives -> ArrayDataset, via SOURCES."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from helpers.cifar_archives import (
    Expected,
    make_cifar10_archive,
    make_cifar100_archive,
    make_image_folder_archive,
    truncate,
)

from ltgrid.data import SOURCES, load_arrays, prepare_dataset
from ltgrid.data.cifar import CIFAR10, CIFAR100
from ltgrid.data.sources import ChecksumError, SourceError

REAL_IMAGES = Path("/work/shared/data/cifar10-images.tar.gz")
REAL_SHA256 = "0f012e94b28dbfe679e82636dd7c4aec3cb90516a5f7421d559c0c3691b61ffb"
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _assert_same(ds, exp: Expected) -> None:
    assert ds.classes == exp.classes
    for field in ("train_x", "train_y", "test_x", "test_y"):
        got, want = getattr(ds, field), getattr(exp, field)
        assert got.dtype == want.dtype and got.shape == want.shape, field
        np.testing.assert_array_equal(got, want, err_msg=field)


def test_official_defaults() -> None:
    assert CIFAR10.url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert CIFAR10.md5 == "c58f30108f718f92721af3b95e74349a"
    assert CIFAR100.url == "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    assert CIFAR100.md5 == "eb9058c3a382ffc7106e4002c42a8d85"


def test_cifar10_local_source_round_trip(tmp_path: Path) -> None:
    archive = tmp_path / "mine.tar.gz"
    exp = make_cifar10_archive(archive)
    work = tmp_path / "raw" / "download"
    ds = SOURCES.build("cifar10", work_dir=work, local=str(archive), md5=_md5(archive))
    _assert_same(ds, exp)
    assert ds.train_x.flags.c_contiguous and ds.image_shape == (32, 32, 3)
    # the verified archive stays as a cache, the extraction does not
    assert sorted(p.name for p in work.iterdir()) == ["cifar-10-python.tar.gz"]


def test_cifar100_through_prepare_dataset(tmp_path: Path) -> None:
    archive = tmp_path / "c100.tar.gz"
    exp = make_cifar100_archive(archive)
    out = tmp_path / "raw" / "arrays.npz"
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    prepare_dataset({"kind": "cifar100", "local": str(archive), "sha256": sha}, out)
    _assert_same(load_arrays(out), exp)
    assert load_arrays(out).num_classes == 100


def test_tampered_archive_refused_with_expected_checksum(tmp_path: Path) -> None:
    archive = tmp_path / "c10.tar.gz"
    make_cifar10_archive(archive)
    good = _md5(archive)
    make_cifar10_archive(archive, seed=5)  # same layout, different bytes
    out = tmp_path / "raw" / "arrays.npz"
    with pytest.raises(ChecksumError) as err:
        prepare_dataset({"kind": "cifar10", "local": str(archive), "md5": good}, out)
    assert good in str(err.value) and _md5(archive) in str(err.value)
    assert not (tmp_path / "raw").exists()


def test_local_copy_defaults_to_official_md5(tmp_path: Path) -> None:
    archive = tmp_path / "c10.tar.gz"
    make_cifar10_archive(archive)
    with pytest.raises(ChecksumError, match=CIFAR10.md5):
        SOURCES.build("cifar10", work_dir=tmp_path / "dl", local=str(archive))
    assert not (tmp_path / "dl").exists()


def test_truncated_archive_refused(tmp_path: Path) -> None:
    archive = tmp_path / "c10.tar.gz"
    make_cifar10_archive(archive)
    short = truncate(archive, tmp_path / "short.tar.gz", keep=0.7)
    with pytest.raises(ChecksumError, match="short.tar.gz"):
        SOURCES.build("cifar10", work_dir=tmp_path / "dl", local=str(short), md5=_md5(archive))
    # even if someone vouches for the truncated bytes, extraction names the archive
    with pytest.raises(SourceError, match="truncated or corrupt"):
        SOURCES.build("cifar10", work_dir=tmp_path / "dl", local=str(short), md5=_md5(short))
    assert [p.name for p in (tmp_path / "dl").iterdir()] == ["cifar-10-python.tar.gz"]


def test_bad_params(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="either url .* or local"):
        SOURCES.build("cifar10", work_dir=tmp_path, url="https://x/y.tar.gz", local="/y.tar.gz")
    with pytest.raises(TypeError, match="cifar100.*sha1"):
        SOURCES.build("cifar100", work_dir=tmp_path, sha1="abc")
    with pytest.raises(SourceError, match="missing.tar.gz does not exist"):
        SOURCES.build("cifar100", work_dir=tmp_path, local=str(tmp_path / "missing.tar.gz"), md5="0" * 32)


def _archive_with(path: Path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tf:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    return _md5(path)


def test_missing_batch_and_malicious_pickle(tmp_path: Path) -> None:
    meta = pickle.dumps({b"label_names": [str(i).encode() for i in range(10)]}, protocol=2)
    partial = tmp_path / "partial.tar.gz"
    md5 = _archive_with(partial, {"cifar-10-batches-py/batches.meta": meta})
    with pytest.raises(SourceError, match="lacks cifar-10-batches-py/data_batch_1"):
        SOURCES.build("cifar10", work_dir=tmp_path / "a", local=str(partial), md5=md5)

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.tar.gz"
    md5 = _archive_with(evil, {"cifar-10-batches-py/batches.meta": pickle.dumps(Boom(), protocol=2)})
    with pytest.raises(SourceError, match="refusing to load .*print"):
        SOURCES.build("cifar10", work_dir=tmp_path / "b", local=str(evil), md5=md5)


def test_wrong_shape_batch(tmp_path: Path) -> None:
    meta = pickle.dumps({b"label_names": [str(i).encode() for i in range(10)]}, protocol=2)
    batch = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2)
    members = {"cifar-10-batches-py/batches.meta": meta, "cifar-10-batches-py/data_batch_1": batch}
    md5 = _archive_with(tmp_path / "bad.tar.gz", members)
    with pytest.raises(SourceError, match=r"data_batch_1: data is uint8 \(2, 100\)"):
        SOURCES.build("cifar10", work_dir=tmp_path / "a", local=str(tmp_path / "bad.tar.gz"), md5=md5)


def test_image_folder_archive(tmp_path: Path) -> None:
    classes = ["zebra", "apple", "mango"]  # label order is the params' order, not alphabetical
    archive = tmp_path / "imgs.tar.gz"
    exp = make_image_folder_archive(archive, classes)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    ds = SOURCES.build("image_folder_archive", work_dir=tmp_path / "dl", path=str(archive), classes=classes, sha256=sha)
    _assert_same(ds, exp)


def test_image_folder_archive_errors(tmp_path: Path) -> None:
    archive = tmp_path / "imgs.tar.gz"
    make_image_folder_archive(archive, ["a", "b"])
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()

    def build(**kw):
        return SOURCES.build("image_folder_archive", work_dir=tmp_path / "dl", path=str(archive), **kw)

    with pytest.raises(SourceError, match="class folder 'b'"):
        build(classes=["a"], sha256=sha)
    with pytest.raises(SourceError, match="no train images of class 'c'"):
        build(classes=["a", "b", "c"], sha256=sha)
    with pytest.raises(ValueError, match="lists \\['a'\\] more than once"):
        build(classes=["a", "a"], sha256=sha)
    with pytest.raises(ValueError, match="non-empty list"):
        build(classes="ab", sha256=sha)
    with pytest.raises(ValueError, match="needs an md5 or sha256"):
        build(classes=["a", "b"])

    gappy = tmp_path / "gappy.tar.gz"
    png = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (32, 32)).save(png, format="PNG")
    _archive_with(gappy, {name: png.getvalue() for name in ("r/train/a/0000.png", "r/train/a/0002.png", "r/test/a/0000.png")})
    sha = hashlib.sha256(gappy.read_bytes()).hexdigest()
    with pytest.raises(SourceError, match=r"train/a has gaps in its file numbers \(missing \[1\]"):
        SOURCES.build("image_folder_archive", work_dir=tmp_path / "g", path=str(gappy), classes=["a"], sha256=sha)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_image_folder_archive_with_its_own_checksum(tmp_path: Path, keep: float) -> None:
    """The checksum matches (taken of the damaged copy): the read itself must say "truncated", in one line."""
    archive = tmp_path / "imgs.tar.gz"
    make_image_folder_archive(archive, ["a", "b"], train_per_class=20)
    short = truncate(archive, tmp_path / "short.tar.gz", keep=keep)
    sha = hashlib.sha256(short.read_bytes()).hexdigest()
    with pytest.raises(SourceError, match=r"^archive .*short.tar.gz is truncated or corrupt: ") as err:
        SOURCES.build("image_folder_archive", work_dir=tmp_path / "dl", path=str(short), classes=["a", "b"], sha256=sha)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(not REAL_IMAGES.exists(), reason=f"{REAL_IMAGES} not on this machine")
def test_real_cifar10_image_archive(tmp_path: Path) -> None:
    ds = SOURCES.build(
        "image_folder_archive", work_dir=tmp_path, path=str(REAL_IMAGES), classes=CIFAR10_NAMES, sha256=REAL_SHA256
    )
    assert ds.train_x.shape == (50_000, 32, 32, 3) and ds.test_x.shape == (10_000, 32, 32, 3)
    assert np.bincount(ds.train_y).tolist() == [5000] * 10
    assert np.bincount(ds.test_y).tolist() == [1000] * 10
    assert ds.classes == tuple(CIFAR10_NAMES)
    mean = ds.train_x.reshape(-1, 3).mean(axis=0) / 255.0
    np.testing.assert_allclose(mean, [0.4913, 0.4821, 0.4465], atol=5e-4)  # figures from the data README
