"""Samplers: class probabilities by hand, and drawn class frequencies against them.

Frequencies are over >= 20,000 draws with a fixed seed; tolerance 0.015 on each class
frequency (the binomial standard deviation is at most 0.0035, so this is > 4 sigma).
"""

from __future__ import annotations

import pytest
import torch

from ltgrid.methods import SAMPLERS
from ltgrid.methods.samplers import power_class_probs, progressive_class_probs

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
