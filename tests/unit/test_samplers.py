"""Samplers: class probabilities by hand, and drawn class frequencies against them.

Frequencies are over >= 20,000 draws with a fixed seed; tolerance 0.015 on each class
frequency (the binomial standard deviation is at most 0.0035, so this is > 4 sigma).
"""

from __future__ import annotations

import math

import pytest
import torch

from ltgrid.methods import SAMPLERS
from ltgrid.methods.samplers import power_class_probs, progressive_class_probs
from ltgrid.methods.samplers.class_cycle import cycle_epoch_draws, stream_slice

COUNTS = torch.tensor([400.0, 100.0, 25.0])
LABELS = torch.repeat_interleave(torch.arange(3), COUNTS.long())
EPS = 0.015


def class_frequencies(name: str, epoch: int, num_epochs: int, epochs_drawn: int = 40) -> torch.Tensor:
    sampler = SAMPLERS.build(name, class_counts=COUNTS)
    g = torch.Generator().manual_seed(0)
    idx = torch.cat([sampler.epoch_indices(LABELS, epoch, num_epochs, g) for _ in range(epochs_drawn)])
    return torch.bincount(LABELS[idx], minlength=3).double() / len(idx)


def test_class_probabilities_by_hand() -> None:
    counts = torch.tensor([1.0, 4.0, 16.0])
    assert torch.allclose(power_class_probs(counts, 0.5), torch.tensor([1, 2, 4], dtype=torch.float64) / 7)
    assert torch.allclose(power_class_probs(counts, 0.0), torch.full((3,), 1 / 3, dtype=torch.float64))
    assert torch.allclose(progressive_class_probs(counts, 0, 10), counts.double() / 21)
    half = 0.5 * counts.double() / 21 + 0.5 / 3
    assert torch.allclose(progressive_class_probs(counts, 5, 10), half)


def test_instance_sampler_is_a_permutation() -> None:
    idx = SAMPLERS.build("instance", class_counts=COUNTS).epoch_indices(LABELS, 0, 1, torch.Generator().manual_seed(0))
    assert torch.equal(idx.sort().values, torch.arange(len(LABELS)))


@pytest.mark.parametrize(
    ("name", "epoch", "want"),
    [
        ("class_balanced", 0, power_class_probs(COUNTS, 0.0)),
        ("square_root", 0, power_class_probs(COUNTS, 0.5)),
        ("progressive", 0, power_class_probs(COUNTS, 1.0)),
        ("progressive", 3, progressive_class_probs(COUNTS, 3, 4)),
    ],
)
def test_drawn_class_frequencies_match_the_formula(name: str, epoch: int, want: torch.Tensor) -> None:
    freq = class_frequencies(name, epoch, 4)
    assert torch.allclose(freq, want, atol=EPS), (freq, want)


def test_epoch_length_is_the_training_set_size_and_seeded() -> None:
    sampler = SAMPLERS.build("square_root", class_counts=COUNTS)
    a = sampler.epoch_indices(LABELS, 0, 2, torch.Generator().manual_seed(5))
    b = sampler.epoch_indices(LABELS, 0, 2, torch.Generator().manual_seed(5))
    assert a.dtype == torch.long and len(a) == len(LABELS) and torch.equal(a, b)
    assert int(a.min()) >= 0 and int(a.max()) < len(LABELS)


def test_within_a_class_images_are_uniform() -> None:
    idx = torch.cat([
        SAMPLERS.build("class_balanced", class_counts=COUNTS).epoch_indices(LABELS, 0, 1, g)
        for g in [torch.Generator().manual_seed(1)] for _ in range(40)
    ])
    tail = idx[LABELS[idx] == 2] - 500  # the 25 tail images sit at positions 500..524
    freq = torch.bincount(tail, minlength=25).double() / len(tail)
    assert torch.allclose(freq, torch.full((25,), 1 / 25, dtype=torch.float64), atol=0.015)


def test_bad_labels_and_epochs_fail_naming_the_value() -> None:
    sampler = SAMPLERS.build("progressive", class_counts=COUNTS)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        sampler.epoch_indices(torch.tensor([0, 3]), 0, 2, g)
    with pytest.raises(ValueError, match="epoch=2"):
        sampler.epoch_indices(LABELS, 2, 2, g)


# ---------------------------------------------------------------- class_cycle (Kang et al.'s class-aware sampler)


def _cycle_epochs(labels: torch.Tensor, epochs: int, seed: int = 0, per_visit: int = 1) -> list[torch.Tensor]:
    counts = torch.bincount(labels).double()
    sampler = SAMPLERS.build("class_cycle", class_counts=counts, per_visit=per_visit)
    g = torch.Generator().manual_seed(seed)
    return [sampler.epoch_indices(labels, e, epochs, g) for e in range(epochs)]


def test_class_cycle_by_hand() -> None:
    """Labels (0, 0, 0, 1): visits alternate between the classes; class 0's draws run through
    its three images before any repeats, class 1 always gives its only image."""
    labels = torch.tensor([0, 0, 0, 1])
    stream = torch.cat(_cycle_epochs(labels, 3))
    drawn = labels[stream]
    assert drawn.view(-1, 2).sort(dim=1).values.tolist() == [[0, 1]] * 6  # every 2 visits: each class once
    zeros = stream[drawn == 0].tolist()
    assert sorted(zeros[:3]) == [0, 1, 2] and sorted(zeros[3:6]) == [0, 1, 2]
    assert stream[drawn == 1].tolist() == [3] * 6


def test_class_cycle_visits_classes_evenly_and_every_image_before_repeats() -> None:
    labels = torch.tensor([0] * 20 + [1] * 7 + [2] * 3 + [3] * 1)
    epochs = _cycle_epochs(labels, 5, seed=3)
    assert all(len(e) == len(labels) for e in epochs)
    stream = torch.cat(epochs)
    drawn = labels[stream]
    for start in range(0, len(stream) - 3, 4):  # each window of C visits holds every class once
        assert sorted(drawn[start:start + 4].tolist()) == [0, 1, 2, 3]
    for c in range(4):
        members = torch.nonzero(labels == c).flatten().tolist()
        seq = stream[drawn == c].tolist()
        n = len(members)
        for k in range(len(seq) // n):  # every full run of n draws is a permutation of the class
            assert sorted(seq[k * n:(k + 1) * n]) == members, (c, k)


def test_class_cycle_is_resume_safe_seeded_and_takes_per_visit_images() -> None:
    labels = torch.tensor([0] * 9 + [1] * 4 + [2] * 2)
    counts = torch.bincount(labels).double()
    full = _cycle_epochs(labels, 4, seed=1)
    sampler = SAMPLERS.build("class_cycle", class_counts=counts)
    fresh = torch.Generator().manual_seed(1)  # a resumed run: epoch 3 straight away
    assert torch.equal(sampler.epoch_indices(labels, 3, 4, fresh), full[3])
    assert not torch.equal(torch.cat(_cycle_epochs(labels, 4, seed=2)), torch.cat(full))
    blocks = labels[torch.cat(_cycle_epochs(labels, 2, per_visit=3))][:-3].view(-1, 3)
    assert all(len(set(b.tolist())) == 1 for b in blocks)  # 3 images of one class per visit
    with pytest.raises(ValueError, match="per_visit must be an integer >= 1, got 0"):
        SAMPLERS.build("class_cycle", class_counts=counts, per_visit=0)


# ---------------------------------------------------------------- class_cycle as the authors' loops run it (issue 23)


def _cycle(labels: torch.Tensor, epochs: int, seed: int = 0, **kwargs) -> list[torch.Tensor]:
    sampler = SAMPLERS.build("class_cycle", class_counts=torch.bincount(labels).double(), **kwargs)
    g = torch.Generator().manual_seed(seed)
    return [sampler.epoch_indices(labels, e, epochs, g) for e in range(epochs)]


def test_class_cycle_epoch_lengths_by_hand() -> None:
    """N = 15 images, batch 4: images 15; Kang et al.'s floor(15/4) = 3 batches, 12 draws;
    MiSLAS's ceil(15/4) + 1 = 5 batches, 20 draws. CIFAR-100-LT rho = 100 (10,847 images, batch
    128): MiSLAS trains 86 batches, 11,008 draws; CIFAR-10-LT rho = 100 (12,406): Kang's rule 96
    batches, 12,288 draws. Neither is the sampler's own C x n_max (50,000 on both)."""
    labels = torch.tensor([0] * 9 + [1] * 4 + [2] * 2)
    for epoch, batch, want in (("images", None, 15), ("floor_batches", 4, 12), ("ceil_batches_plus_one", 4, 20)):
        drawn = _cycle(labels, 3, per_visit=4, epoch=epoch, batch=batch)
        assert [len(d) for d in drawn] == [want] * 3, epoch
    assert cycle_epoch_draws(10847, "ceil_batches_plus_one", 128) == 86 * 128 == 11008
    assert cycle_epoch_draws(12406, "floor_batches", 128) == 96 * 128 == 12288
    assert cycle_epoch_draws(12406, "images", None) == 12406


def test_class_cycle_takes_per_visit_images_a_visit_and_carries_its_cycles_across_epochs() -> None:
    """4 images per class visit (num_samples_cls = 4): the stream is runs of 4 same-class
    draws; over epochs every C visits hold each class once, and each class's draws run through
    all its images before any repeats, the cycles going on across epoch boundaries."""
    labels = torch.tensor([0] * 11 + [1] * 5 + [2] * 3)
    epochs = _cycle(labels, 6, seed=2, per_visit=4, epoch="ceil_batches_plus_one", batch=8)
    assert all(len(e) == (math.ceil(19 / 8) + 1) * 8 for e in epochs)
    stream = torch.cat(epochs)
    visits = labels[stream].view(-1, 4)
    assert all(len(set(v.tolist())) == 1 for v in visits)  # one class per visit
    classes = visits[:, 0]
    for start in range(0, len(classes) - 2, 3):
        assert sorted(classes[start:start + 3].tolist()) == [0, 1, 2]
    for c in range(3):
        members = torch.nonzero(labels == c).flatten().tolist()
        seq = stream[labels[stream] == c].tolist()
        for k in range(len(seq) // len(members)):
            assert sorted(seq[k * len(members):(k + 1) * len(members)]) == members, (c, k)


def test_a_visit_cut_by_the_epoch_end_still_uses_up_its_images() -> None:
    """15 draws an epoch with 4 per visit: the 4th visit gives 3 draws but takes 4 images of its
    class (the authors' zip), so the next epoch goes on after the unused one."""
    labels = torch.tensor([0] * 9 + [1] * 4 + [2] * 2)
    first, second = _cycle(labels, 2, seed=0, per_visit=4)
    cut_class = int(labels[first[-1]])
    members = torch.nonzero(labels == cut_class).flatten()
    whole = stream_slice(members, 0, cut_class, 0, 16).tolist()  # the class's own cycle stream
    drawn = torch.cat([first, second])
    seq = drawn[labels[drawn] == cut_class].tolist()
    taken_first = int((labels[first] == cut_class).sum())
    assert seq[:taken_first] == whole[:taken_first]
    assert seq[taken_first:] == whole[taken_first + 1: taken_first + 1 + len(seq) - taken_first]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epoch": "floor_batches"}, "class_cycle epoch 'floor_batches' counts batches: give batch"),
        ({"batch": 128}, "class_cycle batch=128 counts an epoch in batches, but epoch is 'images'"),
        ({"epoch": "ceil_batches_plus_one", "batch": 0}, "class_cycle batch must be an integer >= 1, got 0"),
        ({"epoch": "max"}, "class_cycle epoch 'max' is not one of images, floor_batches, ceil_batches_plus_one"),
    ],
)
def test_class_cycle_bad_epoch_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        SAMPLERS.build("class_cycle", class_counts=COUNTS, **kwargs)
    assert message in str(info.value)


def test_a_floor_batch_epoch_larger_than_the_split_is_refused() -> None:
    sampler = SAMPLERS.build("class_cycle", class_counts=COUNTS, epoch="floor_batches", batch=128)
    with pytest.raises(ValueError, match=r"batch 128 and 15 training images has no batch"):
        sampler.epoch_indices(torch.tensor([0] * 9 + [1] * 4 + [2] * 2), 0, 1, torch.Generator().manual_seed(0))
