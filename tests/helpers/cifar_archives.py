"""Builders of small archives in the official CIFAR formats (and hostile variants) for tests.

The pickles mimic the official files byte for byte in form: Python 2 protocol-2 pickles
(str opcodes, numpy.core globals), byte-string keys, `data` a uint8
(N, 3072) array of red/green/blue planes, labels a list of ints, classes interleaved
across the batches. Each builder returns the arrays a correct reader must produce.
"""

from __future__ import annotations

import io
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Expected:
    train_x: np.ndarray  # (N, 32, 32, 3) uint8, official order
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]


def _images(rng: np.random.RandomState, labels: np.ndarray) -> np.ndarray:
    return rng.randint(0, 256, size=(len(labels), 32, 32, 3)).astype(np.uint8)


def _rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> the official (N, 3072) row layout: R plane, G plane, B plane."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))


def _labels(rng: np.random.RandomState, num_classes: int, per_class: int) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(num_classes), per_class)).astype(np.int64)


def _add_bytes(tf: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mode = 0o644
    tf.addfile(info, io.BytesIO(payload))


def _py2_str(raw: bytes) -> bytes:
    """A Python 2 `str` (SHORT_BINSTRING / BINSTRING opcode)."""
    if len(raw) < 256:
        return b"U" + bytes([len(raw)]) + raw
    return b"T" + struct.pack("<i", len(raw)) + raw


def _py2_value(value: object) -> bytes:
    if isinstance(value, bytes):
        return _py2_str(value)
    if isinstance(value, int):
        return b"J" + struct.pack("<i", value)
    if isinstance(value, list):
        return b"](" + b"".join(_py2_value(v) for v in value) + b"e"
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 2:
        # what numpy 1.x under Python 2 wrote: _reconstruct(ndarray, (0,), 'b') then
        # BUILD with (1, shape, dtype('u1', False, True) + its state, False, raw bytes)
        dtype = b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"\x89\x88\x87R"
        dtype += b"(K\x03" + _py2_str(b"|") + b"NNN" + b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        shape = b"".join(b"J" + struct.pack("<i", n) for n in value.shape) + b"\x86"
        head = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _py2_str(b"b") + b"\x87R"
        return head + b"(K\x01" + shape + dtype + b"\x89" + _py2_str(value.tobytes()) + b"tb"
    raise TypeError(f"no Python 2 pickle form for {type(value).__name__}")


def py2_pickle(obj: dict[bytes, object]) -> bytes:
    """Pickle a dict the way the official CIFAR files were written (Python 2, protocol 2)."""
    items = b"".join(_py2_str(k) + _py2_value(v) for k, v in obj.items())
    return b"\x80\x02}(" + items + b"u."


def _add_pickle(tf: tarfile.TarFile, name: str, obj: dict) -> None:
    _add_bytes(tf, name, py2_pickle(obj))


def make_cifar10_archive(path: Path, train_per_class: int = 3, test_per_class: int = 2, seed: int = 0) -> Expected:
    """A tiny cifar-10-python.tar.gz: 5 training batches + test_batch + batches.meta."""
    rng = np.random.RandomState(seed)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    train_y, test_y = _labels(rng, 10, train_per_class), _labels(rng, 10, test_per_class)
    train_x, test_x = _images(rng, train_y), _images(rng, test_y)
    chunks = np.array_split(np.arange(len(train_y)), 5)
    with tarfile.open(path, "w:gz") as tf:
        meta = {b"label_names": names, b"num_cases_per_batch": len(chunks[0]), b"num_vis": 3072}
        _add_pickle(tf, "cifar-10-batches-py/batches.meta", meta)
        for i, idx in enumerate(chunks, start=1):
            _add_pickle(
                tf,
                f"cifar-10-batches-py/data_batch_{i}",
                {
                    b"batch_label": f"training batch {i} of 5".encode(),
                    b"labels": [int(v) for v in train_y[idx]],
                    b"data": _rows(train_x[idx]),
                    b"filenames": [f"img_{j}.png".encode() for j in idx],
                },
            )
        _add_pickle(
            tf,
            "cifar-10-batches-py/test_batch",
            {b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in test_y], b"data": _rows(test_x)},
        )
        _add_bytes(tf, "cifar-10-batches-py/readme.html", b"<html></html>")
    return Expected(train_x, train_y, test_x, test_y, tuple(n.decode() for n in names))


def make_cifar100_archive(path: Path, train_per_class: int = 2, test_per_class: int = 1, seed: int = 1) -> Expected:
    """A tiny cifar-100-python.tar.gz: train + test (fine and coarse labels) + meta."""
    rng = np.random.RandomState(seed)
    fine = [f"class_{i:02d}".encode() for i in range(100)]
    coarse = [f"super_{i:02d}".encode() for i in range(20)]
    train_y, test_y = _labels(rng, 100, train_per_class), _labels(rng, 100, test_per_class)
    train_x, test_x = _images(rng, train_y), _images(rng, test_y)
    with tarfile.open(path, "w:gz") as tf:
        _add_pickle(tf, "cifar-100-python/meta", {b"fine_label_names": fine, b"coarse_label_names": coarse})
        for split, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
            _add_pickle(
                tf,
                f"cifar-100-python/{split}",
                {
                    b"batch_label": f"{split}ing batch 1 of 1".encode(),
                    b"fine_labels": [int(v) for v in y],
                    b"coarse_labels": [int(v) // 5 for v in y],
                    b"data": _rows(x),
                    b"filenames": [f"img_{j}.png".encode() for j in range(len(y))],
                },
            )
    return Expected(train_x, train_y, test_x, test_y, tuple(n.decode() for n in fine))


def make_image_folder_archive(
    path: Path, classes: list[str], train_per_class: int = 3, test_per_class: int = 2, root: str = "tiny", seed: int = 2
) -> Expected:
    """A `<root>/{train,test}/<class>/NNNN.png` archive (PNG: lossless, so pixels compare exactly).

    Members are written in a scrambled order so the reader must sort by file number.
    """
    from PIL import Image

    rng = np.random.RandomState(seed)
    expected: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    members: list[tuple[str, bytes]] = []
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        xs, ys = [], []
        for label, cls in enumerate(classes):
            imgs = rng.randint(0, 256, size=(per_class, 32, 32, 3)).astype(np.uint8)
            for n, img in enumerate(imgs):
                buf = io.BytesIO()
                Image.fromarray(img).save(buf, format="PNG")
                members.append((f"{root}/{split}/{cls}/{n:04d}.png", buf.getvalue()))
            xs.append(imgs)
            ys.append(np.full(per_class, label, dtype=np.int64))
        expected[split] = (np.concatenate(xs), np.concatenate(ys))
    order = rng.permutation(len(members))
    with tarfile.open(path, "w:gz") as tf:
        for i in order:
            _add_bytes(tf, *members[i])
    return Expected(*expected["train"], *expected["test"], tuple(classes))


def make_hostile_archive(path: Path, kind: str) -> str:
    """A tar whose one bad member tries to escape; returns that member's name."""
    with tarfile.open(path, "w:gz") as tf:
        _add_bytes(tf, "data/ok.txt", b"fine")
        if kind in ("dotdot", "absolute"):
            name = "data/../../evil.txt" if kind == "dotdot" else "/tmp/ltgrid-evil.txt"
            _add_bytes(tf, name, b"evil")
            return name
        info = tarfile.TarInfo("data/link")
        info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        info.linkname = "../../outside" if kind == "symlink" else "/etc/passwd"
        tf.addfile(info)
        return info.name


def truncate(src: Path, dest: Path, keep: float = 0.5) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest
