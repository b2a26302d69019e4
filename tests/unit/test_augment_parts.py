"""Augmentation parts any recipe can switch on: rotation, AutoAugment (CIFAR-10 policy), Cutout.

Each operation is checked on tiny hand-made uint8 images against its definition, then against
PIL, whose ImageOps / ImageEnhance / Image.transform the authors' CIFAR10Policy calls (BalPoE's
dataset/autoaugm.py): every bin and sign on random images, pixel for pixel. The feed's use of
them is checked for the authors' order, determinism, no host read in the step, and an
unaugmented evaluation; bad values stop at params validation or when the feed is built.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from ltgrid import params
from ltgrid.data import autoaugment as aa
from ltgrid.data.arrays import ArrayDataset
from ltgrid.data.augment import cutout_at, cutout_centres, normalize, rotate_at, rotation_draws
from ltgrid.data.feed import InMemoryFeed, augment_settings
from ltgrid.errors import DataError, ParamsError
from unit import test_step_sync as sync
from unit.test_step_sync import host_reads

F64 = torch.float64


def batch(a: np.ndarray) -> torch.Tensor:
    """(H, W, C) or (H, W) uint8 -> (1, C, H, W)."""
    a = a if a.ndim == 3 else a[..., None]
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]


def image(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).numpy()


def op(name: str, a: np.ndarray, v: float) -> np.ndarray:
    return image(aa.FUNCTIONS[name](batch(a), torch.tensor([v], dtype=F64)))


# ----------------------------------------------------------------------------- Cutout


def test_cutout_zeroes_the_square_around_its_centre():
    x = torch.full((1, 2, 6, 6), 7, dtype=torch.uint8)
    out = cutout_at(x, 2, torch.tensor([[2], [3]]))  # centre row 2, col 3: rows 1-2, cols 2-3
    expected = torch.full((6, 6), 7, dtype=torch.uint8)
    expected[1:3, 2:4] = 0
    assert torch.equal(out[0, 0], expected) and torch.equal(out[0, 1], expected)
    assert torch.equal(cutout_at(x, 3, torch.tensor([[2], [3]])), out)  # odd side: [c - 1, c + 1), as their code
    assert int((cutout_at(x, 4, torch.tensor([[3], [3]]))[0, 0] == 0).sum()) == 16


def test_cutout_is_clipped_at_the_borders_and_holes_add_up():
    x = torch.full((2, 1, 5, 5), 9, dtype=torch.uint8)
    out = cutout_at(x, 4, torch.tensor([[0, 4], [0, 4]]))  # image 0 at the top-left corner, 1 at bottom-right
    assert torch.equal(out[0, 0] == 0, torch.nn.functional.pad(torch.ones(2, 2, dtype=torch.bool), (0, 3, 0, 3)))
    assert torch.equal(out[1, 0] == 0, torch.nn.functional.pad(torch.ones(3, 3, dtype=torch.bool), (2, 0, 2, 0)))
    two = cutout_at(x[:1], 2, torch.tensor([[1], [3], [1], [3]]))  # holes at (1, 1) and (3, 3)
    assert int((two == 0).sum()) == 8 and two[0, 0, 0, 0] == 0 and two[0, 0, 3, 3] == 0 and two[0, 0, 1, 3] == 9


def test_cutout_centres_are_uniform_over_the_pixels():
    c = cutout_centres(40000, 4, 8, 1, torch.Generator().manual_seed(0))
    rows, cols = torch.bincount(c[0], minlength=4), torch.bincount(c[1], minlength=8)
    assert c[0].min() == 0 and c[0].max() == 3 and c[1].min() == 0 and c[1].max() == 7
    assert (rows - 10000).abs().max() < 400 and (cols - 5000).abs().max() < 300


# ----------------------------------------------------------------------------- the operations by hand


def test_invert_solarize_posterize():
    a = np.array([[0, 10, 127, 128, 191, 255]], dtype=np.uint8)
    assert op("invert", a, 0).ravel().tolist() == [255, 245, 128, 127, 64, 0]
    assert op("solarize", a, 128).ravel().tolist() == [0, 10, 127, 127, 64, 0]  # values >= 128 inverted
    assert op("solarize", a, 256).ravel().tolist() == a.ravel().tolist()  # bin 0: nothing
    assert op("posterize", a, 4).ravel().tolist() == [0, 0, 112, 128, 176, 240]  # 191 = 1011 1111 -> 1011 0000
    assert op("posterize", a, 8).ravel().tolist() == a.ravel().tolist()


def test_autocontrast_stretches_each_channel():
    a = np.array([[[50, 7], [100, 7], [150, 7]]], dtype=np.uint8)  # channel 1 is flat: kept
    out = op("autocontrast", a, 0)
    assert out[..., 0].ravel().tolist() == [0, 127, 255] and out[..., 1].ravel().tolist() == [7, 7, 7]


def test_equalize_follows_the_cumulative_histogram():
    a = np.zeros((32, 32), dtype=np.uint8)
    a[8:24] = 5  # 256 zeros, 512 fives, 256 nines: step = (1024 - 256) // 255 = 3
    a[24:] = 9
    out = op("equalize", a, 0)[..., 0]
    assert set(np.unique(out).tolist()) == {0, 85, 255}  # (1 + 0) // 3, (1 + 256) // 3, min(255, (1 + 768) // 3)
    assert out[8, 0] == 85 and out[31, 0] == 255
    few = np.array([[0, 0, 1, 2]], dtype=np.uint8)  # step 0: left as it is
    assert op("equalize", few, 0).ravel().tolist() == [0, 0, 1, 2]


def test_enhancements_blend_with_their_degenerate_image():
    a = np.array([[[200, 100, 0], [10, 20, 30]]], dtype=np.uint8)
    assert op("brightness", a, 0.5).reshape(-1).tolist() == [255, 150, 0, 15, 30, 45]  # x 1.5, clipped
    assert op("brightness", a, -0.5).reshape(-1).tolist() == [100, 50, 0, 5, 10, 15]
    grey = [(19595 * r + 38470 * g + 7471 * b + 32768) >> 16 for r, g, b in a[0].tolist()]  # PIL's L
    assert op("color", a, -1.0).tolist() == [[[grey[0]] * 3, [grey[1]] * 3]]  # factor 0: the grey image
    assert np.array_equal(op("color", a, 0.0), a)
    mean = int(sum(grey) / 2 + 0.5)
    assert op("contrast", a, -1.0).tolist() == [[[mean] * 3, [mean] * 3]]  # factor 0: flat at the grey mean
    twice = op("contrast", a, 1.0)  # factor 2: 2 x - mean, clipped
    assert twice[0, 0].tolist() == [min(255, 400 - mean), max(0, 200 - mean), 0]


def test_sharpness_blends_with_the_smoothed_image_inside_the_border():
    a = np.zeros((3, 3), dtype=np.uint8)
    a[1, 1] = 13
    smooth = op("sharpness", a, -1.0)[..., 0]  # factor 0: SMOOTH filter: centre (5 * 13) / 13 = 5, border kept
    assert smooth.tolist() == [[0, 0, 0], [0, 5, 0], [0, 0, 0]]
    assert op("sharpness", a, 1.0)[1, 1, 0] == 21  # factor 2: 13 + (13 - 5)


def test_geometric_operations():
    a = np.repeat(np.array([10, 20, 30, 40], dtype=np.uint8)[:, None], 4, axis=1)  # rows constant
    sheared = op("shearX", a, 0.3)[..., 0]  # input x = x' + 0.3 y' from the top-left corner: rows stay
    assert sheared[3].tolist() == [40, 40, 40, 128]  # row 3: x' = 3.5 reads x = 4.55, outside: grey
    assert sheared[0].tolist() == [10, 10, 10, 10]  # row 0: x' = 3.5 reads x = 3.65, inside
    cols = np.repeat(np.array([10, 20, 30, 40], dtype=np.uint8)[None], 4, axis=0)
    assert op("translateX", cols, 0.25)[0, :, 0].tolist() == [20, 30, 40, 128]  # v W = 1 px: content left
    assert op("translateX", cols, -0.25)[0, :, 0].tolist() == [128, 10, 20, 30]
    assert op("translateY", a, 0.25)[:, 0, 0].tolist() == [20, 30, 40, 128]
    ramp = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    quarter = rotate_at(batch(ramp), torch.tensor([90.0], dtype=F64))
    assert torch.equal(quarter[0, 0], torch.rot90(torch.from_numpy(ramp), 1))  # counter-clockwise
    assert np.array_equal(op("rotate", ramp, 0.0)[..., 0], ramp)


# ----------------------------------------------------------------------------- against PIL, as the authors ran them

GREY = (128, 128, 128)
PIL_OPS = {  # DeepVoltaire's SubPolicy functions (BalPoE dataset/autoaugm.py), with the sign made explicit
    "shearX": lambda im, m: im.transform(im.size, Image.AFFINE, (1, m, 0, 0, 1, 0), Image.BICUBIC, fillcolor=GREY),
    "shearY": lambda im, m: im.transform(im.size, Image.AFFINE, (1, 0, 0, m, 1, 0), Image.BICUBIC, fillcolor=GREY),
    "translateX": lambda im, m: im.transform(im.size, Image.AFFINE, (1, 0, m * im.size[0], 0, 1, 0), fillcolor=GREY),
    "translateY": lambda im, m: im.transform(im.size, Image.AFFINE, (1, 0, 0, 0, 1, m * im.size[1]), fillcolor=GREY),
    "rotate": lambda im, m: Image.composite(r := im.convert("RGBA").rotate(m), Image.new("RGBA", im.size, (128,) * 4), r).convert("RGB"),
    "color": lambda im, m: ImageEnhance.Color(im).enhance(1 + m),
    "posterize": lambda im, m: ImageOps.posterize(im, int(m)),
    "solarize": lambda im, m: ImageOps.solarize(im, m),
    "contrast": lambda im, m: ImageEnhance.Contrast(im).enhance(1 + m),
    "sharpness": lambda im, m: ImageEnhance.Sharpness(im).enhance(1 + m),
    "brightness": lambda im, m: ImageEnhance.Brightness(im).enhance(1 + m),
    "autocontrast": lambda im, m: ImageOps.autocontrast(im),
    "equalize": lambda im, m: ImageOps.equalize(im),
    "invert": lambda im, m: ImageOps.invert(im),
}


@pytest.mark.parametrize("name", aa.OPS)
def test_each_operation_equals_pil_at_every_bin_and_sign(name):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (7, 9, 3), dtype=np.uint8) for _ in range(6)]
    images += [(rng.integers(0, 7, (7, 9, 3)) * 40 + 5).astype(np.uint8) for _ in range(3)]  # few levels: ties
    for value in sorted(set(aa.MAGNITUDES[name])):
        for signed in ([value, -value] if name in aa.SIGNED else [value]):
            stack = torch.cat([batch(a) for a in images])
            ours = aa.FUNCTIONS[name](stack, torch.full((len(images),), signed, dtype=F64))
            for a, got in zip(images, ours):
                ref = np.asarray(PIL_OPS[name](Image.fromarray(a), signed))
                assert np.array_equal(got.permute(1, 2, 0).numpy(), ref), (name, signed)


def test_rotation_equals_torchvision_random_rotation_on_pil():
    from torchvision.transforms import functional as TF

    a = np.random.default_rng(2).integers(0, 256, (8, 10, 3), dtype=np.uint8)
    for angle in (-15.0, -7.3, 4.2, 15.0):
        ref = np.asarray(TF.rotate(Image.fromarray(a), angle))  # RandomRotation's call: nearest, fill 0
        assert np.array_equal(image(rotate_at(batch(a), torch.tensor([angle], dtype=F64))), ref), angle
    angles = rotation_draws(20000, 15, torch.Generator().manual_seed(0))
    assert angles.abs().max() <= 15 and abs(float(angles.mean())) < 0.2 and float((angles > 7.5).float().mean()) == pytest.approx(0.25, abs=0.02)


# ----------------------------------------------------------------------------- the policy


def test_cifar10_policy_is_the_papers_table():
    from torchvision.transforms.autoaugment import AutoAugment, AutoAugmentPolicy

    theirs = AutoAugment(AutoAugmentPolicy.CIFAR10).policies
    spell = {name.lower(): name for name in aa.OPS}
    assert len(aa.CIFAR10) == 25
    for (p1, o1, b1, p2, o2, b2), ((n1, q1, c1), (n2, q2, c2)) in zip(aa.CIFAR10, theirs):
        assert (o1, p1, o2, p2) == (spell[n1.lower()], q1, spell[n2.lower()], q2)
        assert (c1 in (None, b1)) and (c2 in (None, b2))
    assert aa.MAGNITUDES["posterize"] == (8, 8, 7, 7, 6, 6, 5, 5, 4, 4)
    assert aa.MAGNITUDES["solarize"][0] == 256 and aa.MAGNITUDES["solarize"][9] == 0
    assert aa.MAGNITUDES["translateX"][9] == pytest.approx(150 / 331) and aa.MAGNITUDES["rotate"][9] == 30
    assert aa.MAGNITUDES["shearX"][9] == pytest.approx(0.3) and aa.MAGNITUDES["color"][9] == pytest.approx(0.9)


def test_draws_fire_each_operation_at_the_policy_rate():
    n = 100000
    ops, values = aa.draw(n, "cifar10", torch.Generator().manual_seed(0))
    for slot in (0, 1):
        expected = torch.zeros(aa.NONE + 1, dtype=F64)
        for sub in aa.CIFAR10:
            p, name = sub[3 * slot], sub[3 * slot + 1]
            expected[aa.OPS.index(name)] += p / 25
            expected[aa.NONE] += (1 - p) / 25
        seen = torch.bincount(ops[slot], minlength=aa.NONE + 1).double() / n
        assert torch.allclose(seen, expected, atol=0.006), slot
    brightness = values[0][ops[0] == aa.OPS.index("brightness")]  # bins 6 and 3, either sign
    assert set(brightness.abs().round(decimals=4).tolist()) == {0.6, 0.3} and (brightness > 0).float().mean() == pytest.approx(0.5, abs=0.05)
    rotate = values[0][ops[0] == aa.OPS.index("rotate")]
    assert rotate.min() > 0  # DeepVoltaire's rotate turns one way only


def test_grouped_application_equals_applying_each_images_operations_in_turn():
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.integers(0, 256, (24, 3, 8, 8), dtype=np.uint8))
    ops, values = aa.draw(24, "cifar10", torch.Generator().manual_seed(5))
    local, groups = aa.group(ops, 10)  # batches of 10, 10, 4
    assert [sum(g[3] for g in gs) for gs in groups] == [int((ops[:, s : s + 10] != aa.NONE).sum()) for s in (0, 10, 20)]
    for b, start in enumerate((0, 10, 20)):
        got = aa.apply(x[start : start + 10], local[:, start : start + 10], values[:, start : start + 10], groups[b])
        for i in range(len(got)):
            ref = x[start + i : start + i + 1]
            for slot in (0, 1):
                k = int(ops[slot, start + i])
                if k != aa.NONE:
                    ref = aa.FUNCTIONS[aa.OPS[k]](ref, values[slot, start + i : start + i + 1])
            assert torch.equal(got[i], ref[0]), (b, i)


# ----------------------------------------------------------------------------- the feed

ALL = {"crop_padding": 2, "hflip": True, "rotate": 15, "autoaugment": "cifar10", "cutout": 4}


def dataset(channels: int = 3) -> ArrayDataset:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), [20, 8, 4])
    return ArrayDataset(rng.integers(0, 256, (len(y), 8, 8, channels), dtype=np.uint8), y,
                        rng.integers(0, 256, (9, 8, 8, channels), dtype=np.uint8), np.arange(9) % 3, ("a", "b", "c"))


def feed(augment: dict, channels: int = 3) -> InMemoryFeed:
    ds = dataset(channels)
    return InMemoryFeed(ds, {"train_indices": list(range(len(ds.train_y)))}, torch.device("cpu"), augment)


def epoch(f: InMemoryFeed, seed: int, batch_size: int = 8) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(f.train_labels), generator=g)
    f.plan_epoch(order, batch_size, g)
    return [f.train_batch(order[s : s + batch_size], g)[0] for s in range(0, len(order), batch_size)]


def test_same_seed_same_batches_and_the_parts_change_them():
    a, b, c = epoch(feed(ALL), 0), epoch(feed(ALL), 0), epoch(feed(ALL), 1)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not all(torch.equal(p, q) for p, q in zip(a, c))
    plain = epoch(feed({"crop_padding": 2, "hflip": True}), 0)
    assert not all(torch.equal(p, q) for p, q in zip(a, plain))
    grey = epoch(feed(ALL, channels=1), 0)  # single-channel images (digits): colour is the identity
    assert grey[0].shape == (8, 1, 8, 8) and all(torch.isfinite(t).all() for t in grey)


def test_feed_applies_the_authors_order_with_cutout_last_before_normalisation():
    f = feed({"autoaugment": "cifar10", "cutout": 4})
    g = torch.Generator().manual_seed(4)
    order = torch.arange(8)
    f.plan_epoch(order, 8, g)
    x, _ = f.train_batch(order, g)
    black = normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8), f.mean, f.std)[0, :, 0, 0]
    # each image has a 4 x 4 (or border-clipped) square of exact black: zeroed after AutoAugment's grey fills
    cut = (x == black.view(1, 3, 1, 1)).all(dim=1)
    assert all(int(cut[i].sum()) >= 4 for i in range(8))


def test_evaluation_never_augments():
    f, ds = feed(ALL), dataset()
    as_batch = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2)  # noqa: E731
    (got, _), = list(f.eval_batches("test", 100))
    assert torch.equal(got, normalize(as_batch(ds.test_x), f.mean, f.std))
    seen = torch.cat([x for x, _ in f.train_eval_batches(100)])
    assert torch.equal(seen, normalize(as_batch(ds.train_x), f.mean, f.std))


def test_the_step_makes_no_host_read_with_every_part_on():
    f = feed(ALL)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(32, generator=g)
    f.plan_epoch(order, 8, g)
    with host_reads() as reads:
        for s in range(0, 32, 8):
            f.train_batch(order[s : s + 8], g)
    assert reads == [], "\n".join(reads[:5])


@pytest.mark.parametrize("mixing", ["unimix", "glmc"])
def test_twenty_trainer_steps_with_every_part_on_make_no_host_read(monkeypatch, mixing):
    """Through the trainer's own plan and step (a mixing rule that gathers k images per sampled
    one, GLMC's, cuts batches of k x the batch size: the groups follow)."""
    from ltgrid.methods import MIXINGS

    if mixing not in MIXINGS.names():
        pytest.skip(f"no {mixing} mixing rule in this checkout")
    plain = sync.feed()
    ds = ArrayDataset(plain.train_x.permute(0, 2, 3, 1).numpy(), plain.train_labels.numpy(),
                      plain.train_x[:20].permute(0, 2, 3, 1).numpy(), np.arange(20) % sync.CLASSES,
                      tuple(f"c{i}" for i in range(sync.CLASSES)))
    every = InMemoryFeed(ds, {"train_indices": list(range(len(ds.train_y)))}, torch.device("cpu"), ALL)
    monkeypatch.setattr(sync, "feed", lambda: every)
    reads, (loss_sum, _, first_bad, _) = sync.twenty_steps({"mixing": {"name": mixing}, "loss": {"name": "ce"}})
    assert reads == [], "\n".join(reads[:5])
    assert np.isfinite(loss_sum) and first_bad == -1


def test_a_digits_cell_with_every_part_on_trains_and_repeats_exactly(repo_root, tmp_path):
    """End to end through params, the split, the trainer and MLflow: 2 epochs of CE on digits-LT."""
    from ltgrid.cell_inputs import cell_inputs
    from ltgrid.train.trainer import train_cell

    config = params.load(repo_root / "params" / "default.yaml", params.DEFAULT_SCHEMA, root=repo_root)
    which = params.Cell("digits", params.format_rho(10), 0, "ce", 0)
    cell = params.resolve_cell(config, which)
    cell["recipe"].update(epochs=2, lr_schedule={"warmup_epochs": 1, "steps": []})
    cell["recipe"]["augment"] = {"crop_padding": 1, "hflip": False, "rotate": 15, "autoaugment": "cifar10", "cutout": 4}
    inputs = cell_inputs(config, which, tmp_path, "augment")
    runs = []
    for name in ("a", "b"):
        train_cell(cell, tmp_path / "dataset.npz", tmp_path / "split.json", tmp_path / name, inputs.tracking, threads=1)
        with np.load(tmp_path / name / "predictions.npz") as z:
            runs.append({k: z[k] for k in z.files})
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert np.isfinite(runs[0]["test_logits_final"]).all()


# ----------------------------------------------------------------------------- bad values


@pytest.mark.parametrize("key, value, expected", [
    ("autoaugment", "imagenet", "recipes.digits.augment.autoaugment = \"imagenet\""),
    ("cutout", -1, "recipes.digits.augment.cutout = -1"),
    ("cutout", 2.5, "recipes.digits.augment.cutout = 2.5"),
    ("rotate", 400, "recipes.digits.augment.rotate = 400"),
])
def test_a_bad_value_is_a_params_error_naming_it(repo_root, monkeypatch, key, value, expected):
    monkeypatch.chdir(repo_root)
    config = copy.deepcopy(params.resolve_includes(params.load_yaml("params/default.yaml")))
    config["recipes"]["digits"].setdefault("augment", {})[key] = value
    with pytest.raises(ParamsError) as err:
        params.validate(config, params.DEFAULT_SCHEMA)
    assert expected in str(err.value), str(err.value)


def test_the_feed_itself_refuses_a_bad_value():
    """A feed built outside a grid (a test, a benchmark) still names the bad value; in a grid params
    refuse it first, and the list-file feed's refusals are params checks too (test_method_recipe.py)."""
    with pytest.raises(DataError, match="augment.autoaugment = 'imagenet'"):
        augment_settings({"autoaugment": "imagenet"})
    with pytest.raises(DataError, match="augment.cutout = -1"):
        augment_settings({"cutout": -1})
    with pytest.raises(DataError, match="augment.cutout_holes = 0"):
        augment_settings({"cutout": 8, "cutout_holes": 0})
