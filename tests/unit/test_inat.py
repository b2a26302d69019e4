"""iNaturalist JSON annotations -> list files."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from ltgrid.data.inat import convert, main
from ltgrid.data.listfile import read_list
from ltgrid.data.sources import ChecksumError, SourceError


def write_annotations(path: Path, category_ids=(0, 1, 2), per_class=(3, 2, 1), drop=None, extra_ann=None) -> Path:
    images, anns = [], []
    image_id = 100
    for cid, n in zip(category_ids, per_class):
        for k in range(n):
            images.append({"id": image_id, "file_name": f"train_val2018/Plantae/{cid}/{k:03d}.jpg", "width": 40, "height": 30})
            anns.append({"id": image_id + 1000, "image_id": image_id, "category_id": cid})
            image_id += 1
    if drop is not None:
        anns = [a for a in anns if a["image_id"] != drop]
    if extra_ann is not None:
        anns.append(extra_ann)
    cats = [{"id": cid, "name": f"species {cid}", "supercategory": "Plantae"} for cid in category_ids]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def test_lines_follow_the_json_image_order(tmp_path):
    ann = write_annotations(tmp_path / "train2018.json")
    counts = convert({"path": str(ann)}, tmp_path / "train.txt")
    paths, labels = read_list(tmp_path / "train.txt")
    assert paths[0] == "train_val2018/Plantae/0/000.jpg" and labels.tolist() == [0, 0, 0, 1, 1, 2]
    assert dict(counts) == {0: 3, 1: 2, 2: 1}


def test_category_ids_that_are_not_0_to_c_minus_1_become_ranks(tmp_path):
    ann = write_annotations(tmp_path / "a.json", category_ids=(5, 17, 9))
    convert({"path": str(ann)}, tmp_path / "l.txt")
    _, labels = read_list(tmp_path / "l.txt")
    assert labels.tolist() == [0, 0, 0, 2, 2, 1]  # ids 5, 9, 17 -> 0, 1, 2


def test_checksum_is_verified(tmp_path):
    ann = write_annotations(tmp_path / "a.json")
    good = hashlib.md5(ann.read_bytes()).hexdigest()
    convert({"path": str(ann), "md5": good}, tmp_path / "ok.txt")
    with pytest.raises(ChecksumError, match="has md5"):
        convert({"path": str(ann), "md5": "0" * 32}, tmp_path / "bad.txt")
    assert not (tmp_path / "bad.txt").exists()


def test_unlabelled_or_twice_labelled_images_fail(tmp_path):
    with pytest.raises(SourceError, match=r"image train_val2018/Plantae/0/001\.jpg \(id 101\) has no annotation"):
        convert({"path": str(write_annotations(tmp_path / "a.json", drop=101))}, tmp_path / "x.txt")
    twice = {"id": 9999, "image_id": 100, "category_id": 1}
    with pytest.raises(SourceError, match="image id 100 has more than one annotation"):
        convert({"path": str(write_annotations(tmp_path / "b.json", extra_ann=twice))}, tmp_path / "x.txt")


def test_cli_reports_a_missing_file_in_one_line(tmp_path, capsys):
    assert main(["--spec", json.dumps({"path": str(tmp_path / "train2018.json")}), "--out", str(tmp_path / "t.txt")]) == 2
    assert "annotation file" in capsys.readouterr().err
    ann = write_annotations(tmp_path / "train2018.json")
    assert main(["--spec", json.dumps({"path": str(ann)}), "--out", str(tmp_path / "t.txt")]) == 0
    assert "6 images, 3 classes, 3 down to 1 per class" in capsys.readouterr().out


def as_official_archive(ann: Path, members: tuple[str, ...] = ("train2018.json",)) -> Path:
    """`train2018.json.tar.gz` as the organisers ship it: a gzip'd tar holding the JSON."""
    archive = ann.with_name(ann.name + ".tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for name in members:
            info = tarfile.TarInfo(name)
            data = ann.read_bytes()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def test_the_official_archive_is_read_in_place_and_its_md5_checked(tmp_path):
    archive = as_official_archive(write_annotations(tmp_path / "train2018.json"))
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    counts = convert({"path": str(archive), "md5": md5}, tmp_path / "train.txt")
    assert dict(counts) == {0: 3, 1: 2, 2: 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.txt", "train2018.json", "train2018.json.tar.gz"]
    with pytest.raises(ChecksumError, match="params expect 0{32}"):
        convert({"path": str(archive), "md5": "0" * 32}, tmp_path / "bad.txt")


def test_a_truncated_or_ambiguous_archive_is_named(tmp_path):
    ann = write_annotations(tmp_path / "train2018.json")
    archive = as_official_archive(ann)
    archive.write_bytes(archive.read_bytes()[:60])
    with pytest.raises(SourceError, match="train2018.json.tar.gz is truncated or not a .tar.gz"):
        convert({"path": str(archive)}, tmp_path / "x.txt")
    two = as_official_archive(ann, members=("a.json", "b.json"))
    with pytest.raises(SourceError, match=r"must hold exactly one \.json file, found \['a.json', 'b.json'\]"):
        convert({"path": str(two)}, tmp_path / "x.txt")
    assert not (tmp_path / "x.txt").exists()
