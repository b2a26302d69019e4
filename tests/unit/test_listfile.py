"""List-file datasets: parsing, prepare-time checks, the `given` split and the worker-decoding feed."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.image_lists import TEST_PER_CLASS, TRAIN_COUNTS, VAL_PER_CLASS, make_image_tree, source_params
from ltgrid import params as ltparams
from ltgrid.data import prepare_dataset, train_labels
from ltgrid.data.listfile import ListFileDataset, read_list
from ltgrid.data.listfile_feed import ListFileFeed, eval_box, train_box
from ltgrid.data.sources import ChecksumError, SourceError
from ltgrid.data.splits import make_split

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict[str, Path]:
    return make_image_tree(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "dataset.npz"
    prepare_dataset(source_params(tree), out)
    return out


def make_feed(path: Path, workers: int, **augment) -> ListFileFeed:
    ds = ListFileDataset.load(path)
    labels, num_classes = train_labels(path)
    split = make_split(labels, 10, 0, mode="given", num_classes=num_classes)
    aug = {"image_size": 32, "eval_resize": 36, "hflip": True, **augment}
    return ListFileFeed(ds, split, torch.device("cpu"), aug, workers=workers)


def epoch(feed: ListFileFeed, batch_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(feed.train_labels), generator=g)
    feed.plan_epoch(order, batch_size, g)
    xs, ys = [], []
    for start in range(0, len(order), batch_size):
        x, y = feed.train_batch(order[start : start + batch_size], g)
        xs.append(x)
        ys.append(y)
    return order, torch.cat(xs), torch.cat(ys)


# ---------------------------------------------------------------- parsing and prepare


def test_read_list_takes_the_last_field_as_label(tmp_path):
    f = tmp_path / "l.txt"
    f.write_text("train/a b/x 1.jpg 3\n\n val/y.JPEG 0 \n")
    paths, labels = read_list(f)
    assert paths == ["train/a b/x 1.jpg", "val/y.JPEG"] and labels.tolist() == [3, 0]


@pytest.mark.parametrize("line", ["justapath.jpg", "x.jpg label", "/abs/x.jpg 1", "../x.jpg 1"])
def test_read_list_rejects_bad_lines_naming_file_and_line(tmp_path, line):
    f = tmp_path / "l.txt"
    f.write_text(f"ok.jpg 0\n{line}\n")
    with pytest.raises(SourceError, match=rf"{f}:2"):
        read_list(f)


def test_prepare_stores_paths_labels_and_no_pixels(prepared, tree):
    ds = ListFileDataset.load(prepared)
    assert ds.num_classes == 4 and ds.root == str(tree["root"].resolve())
    assert ds.class_counts("train").tolist() == list(TRAIN_COUNTS)
    assert len(ds.labels["val"]) == 4 * VAL_PER_CLASS and len(ds.labels["test"]) == 4 * TEST_PER_CLASS
    assert ds.paths["train"][0].decode() == "train/c0/0000.jpg"
    with np.load(prepared) as z:
        assert str(z["format"]) == "listfile" and "train_x" not in z.files
    labels, num_classes = train_labels(prepared)
    assert labels.tolist() == ds.labels["train"].tolist() and num_classes == 4


def test_missing_image_fails_with_its_path(tree, tmp_path):
    lines = tree["train"].read_text() + "train/c1/9999.jpg 1\n"
    broken = tmp_path / "train.txt"
    broken.write_text(lines)
    src = source_params(tree, checksums=False) | {"train": {"path": str(broken)}, "expect": None}
    with pytest.raises(SourceError, match=r"1 of the 38 images .* missing, e.g. .*/images/train/c1/9999\.jpg"):
        prepare_dataset(src, tmp_path / "ds.npz")
    assert not (tmp_path / "ds.npz").exists()


def test_label_out_of_range_fails_with_the_path(tree, tmp_path):
    bad = tmp_path / "test.txt"
    bad.write_text(tree["test"].read_text().replace("test/c3/0001.jpg 3", "test/c3/0001.jpg 7"))
    src = source_params(tree, checksums=False) | {"test": {"path": str(bad)}}
    with pytest.raises(SourceError, match=r"test/c3/0001\.jpg has label 7, outside 0\.\.3"):
        prepare_dataset(src, tmp_path / "ds.npz")


def test_checksum_mismatch_is_refused(tree, tmp_path):
    src = source_params(tree)
    src["val"]["sha256"] = "0" * 64
    with pytest.raises(ChecksumError, match="source.val: split file .*tiny_val.txt has sha256"):
        prepare_dataset(src, tmp_path / "ds.npz")


def test_expected_totals_are_checked(tree, tmp_path):
    src = source_params(tree)
    src["expect"] = {"train_images": 115846, "num_classes": 4}
    with pytest.raises(SourceError, match="train_images: expected 115846, the split files give 37"):
        prepare_dataset(src, tmp_path / "ds.npz")


def test_absent_image_root_says_which_param(tree, tmp_path):
    src = source_params(tree) | {"root": str(tmp_path / "nowhere")}
    with pytest.raises(SourceError, match=r"source\.root: image root .*nowhere does not exist"):
        prepare_dataset(src, tmp_path / "ds.npz")


# ---------------------------------------------------------------- split mode given


def test_given_split_keeps_every_image_and_checks_the_ratio(prepared):
    labels, num_classes = train_labels(prepared)
    split = make_split(labels, 10, 0, mode="given", num_classes=num_classes)
    assert split["counts"] == list(TRAIN_COUNTS) and split["train_indices"] == list(range(37))
    assert split["val_indices"] == [] and split["mode"] == "given"
    with pytest.raises(ValueError, match=r"rho=256 is not the split files' own ratio 20/2 = 10"):
        make_split(labels, 256, 0, mode="given", num_classes=num_classes)
    with pytest.raises(ValueError, match="drop n_max"):
        make_split(labels, 10, 0, n_max=20, mode="given")
    with pytest.raises(ValueError, match=r"class\(es\) \[4\] have no training image"):
        make_split(labels, 10, 0, mode="given", num_classes=5)


def test_paper_grids_validate_without_touching_the_filesystem():
    for name, cells in (("paper-imagenet", 26), ("paper-inat", 13)):
        config = ltparams.load(ROOT / "params" / f"{name}.yaml", ROOT / "workflow/schemas/params.schema.yaml", root=ROOT,
                               check_files=False)
        assert not Path(config["datasets"][next(iter(config["datasets"]))]["source"]["root"]).exists()
        assert len(ltparams.cells(config)) == cells
    assert {c.rho for c in ltparams.cells(config)} == {"500"}


def test_given_mode_takes_one_ratio_and_no_profile_keys():
    config = ltparams.resolve_includes(ltparams.load_yaml(ROOT / "params/paper-imagenet.yaml"), ROOT)
    config["datasets"]["imagenet_lt"]["ratios"] = [256, 100]
    with pytest.raises(ltparams.ParamsError, match=r"datasets\.imagenet_lt\.ratios"):
        ltparams.validate(config, ROOT / "workflow/schemas/params.schema.yaml")
    config["datasets"]["imagenet_lt"]["ratios"] = [256]
    config["datasets"]["imagenet_lt"]["split"]["n_max"] = 1280
    with pytest.raises(ltparams.ParamsError, match=r"datasets\.imagenet_lt\.split"):
        ltparams.validate(config, ROOT / "workflow/schemas/params.schema.yaml")


# ---------------------------------------------------------------- crops


def test_train_box_stays_inside_and_covers_the_area_range():
    rng = random.Random(0)
    areas = []
    for _ in range(2000):
        w, h = rng.randint(5, 600), rng.randint(5, 600)
        left, top, right, bottom = train_box(w, h, rng, 0.08)
        assert 0 <= left < right <= w and 0 <= top < bottom <= h
        if 3 / 4 <= w / h <= 4 / 3 and min(w, h) >= 100:  # no fallback crop, little rounding
            areas.append((right - left) * (bottom - top) / (w * h))
    assert 0.075 <= min(areas) < 0.12 and max(areas) > 0.95


def test_train_box_falls_back_to_a_central_crop_of_clamped_ratio():
    left, top, right, bottom = train_box(20, 600, random.Random(0), 0.9)  # 1:30, no 3/4..4/3 box of 90%
    assert (right - left, bottom - top) == (20, 27) and top == (600 - 27) // 2


def test_eval_box_is_the_central_crop_of_the_resized_image():
    # 500x375 -> shorter side 256 (scale 256/375), central 224 -> 328.1 original pixels, centred
    left, top, right, bottom = eval_box(500, 375, 224, 256)
    assert right - left == pytest.approx(224 * 375 / 256) and bottom - top == pytest.approx(224 * 375 / 256)
    assert (left + right) / 2 == pytest.approx(250) and (top + bottom) / 2 == pytest.approx(187.5)


# ---------------------------------------------------------------- the feed


def test_planned_epoch_yields_the_positions_asked_for(prepared):
    feed = make_feed(prepared, workers=2)
    order, x, y = epoch(feed, batch_size=8)
    assert x.shape == (37, 3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(y, feed.train_labels[order])
    # colours survive the crop: the mean red channel of class 0 (red) beats class 2 (blue)
    red = x[:, 0].mean(dim=(1, 2))
    assert red[y == 0].mean() > red[y == 2].mean() + 1.0


def test_decoding_does_not_depend_on_the_number_of_workers(prepared):
    _, x0, y0 = epoch(make_feed(prepared, workers=0), batch_size=8, seed=3)
    _, x2, y2 = epoch(make_feed(prepared, workers=2), batch_size=8, seed=3)
    assert torch.equal(x0, x2) and torch.equal(y0, y2)
    _, x_other, _ = epoch(make_feed(prepared, workers=0), batch_size=8, seed=4)
    assert not torch.equal(x0, x_other)


def test_a_batch_off_the_plan_is_refused(prepared):
    feed = make_feed(prepared, workers=0)
    g = torch.Generator().manual_seed(0)
    order = torch.arange(37)
    feed.plan_epoch(order, 8, g)
    with pytest.raises(RuntimeError, match="planned epoch order"):
        feed.train_batch(order[8:16], g)


def test_unplanned_batches_still_decode(prepared):
    feed = make_feed(prepared, workers=1)
    g = torch.Generator().manual_seed(0)
    x, y = feed.train_batch(torch.tensor([36, 0, 20]), g)
    assert x.shape == (3, 3, 32, 32) and y.tolist() == [3, 0, 1]


def test_eval_batches_are_in_list_order_and_deterministic(prepared):
    feed = make_feed(prepared, workers=2)
    assert set(feed.eval_sets) == {"test", "val"}
    batches = list(feed.eval_batches("test", 5))
    assert max(len(y) for _, y in batches) == 5
    labels = torch.cat([y for _, y in batches])
    assert torch.equal(labels, feed.eval_labels("test")) and labels.tolist() == sorted(labels.tolist())
    again = torch.cat([x for x, _ in feed.eval_batches("test", 16)])
    assert torch.equal(torch.cat([x for x, _ in batches]), again)


def test_channels_last_batches(prepared):
    ds = ListFileDataset.load(prepared)
    split = make_split(ds.train_y, 10, 0, mode="given", num_classes=4)
    feed = ListFileFeed(ds, split, torch.device("cpu"), {"image_size": 32}, channels_last=True, workers=0)
    x, _ = feed.train_batch(torch.arange(4), torch.Generator().manual_seed(0))
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_an_undecodable_image_is_named(tree, tmp_path):
    src = source_params(tree, checksums=False)
    out = tmp_path / "ds.npz"
    prepare_dataset(src, out)
    ds = ListFileDataset.load(out)
    victim = Path(ds.root) / ds.paths["test"][2].decode()
    original = victim.read_bytes()
    try:
        victim.write_bytes(b"not a jpeg")
        feed = make_feed(out, workers=0)
        with pytest.raises(SourceError, match=rf"cannot decode image {victim}"):
            list(feed.eval_batches("test", 8))
    finally:
        victim.write_bytes(original)


def test_listfile_cli_errors_are_one_line(tree, tmp_path):
    import subprocess
    import sys

    src = source_params(tree) | {"root": str(tmp_path / "absent")}
    proc = subprocess.run(
        [sys.executable, "-m", "ltgrid", "prepare", "--source", json.dumps(src), "--out", str(tmp_path / "d.npz")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: source.root: image root") and "Traceback" not in proc.stderr
