"""Random draws every mixing rule needs, all taken from the trainer's CPU generator.

torch has no public Beta sampler that takes a generator, so Beta draws come from a
numpy generator seeded by one draw of the torch generator: still one seed, reproducible.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def beta_draws(n: int, alpha: float, generator: torch.Generator) -> Tensor:
    """n independent Beta(alpha, alpha) draws, float64 on the CPU."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device="cpu").item())
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size=n))


def permutation_partners(n: int, generator: torch.Generator) -> Tensor:
    """Partner j = perm[i], the usual mixup pairing of a batch with its own shuffle."""
    return torch.randperm(n, generator=generator, device="cpu")


def blend(x: Tensor, partner: Tensor, factor: Tensor) -> Tensor:
    """factor_i * x_i + (1 - factor_i) * x_partner(i), one factor per sample."""
    partner = partner.to(x.device)
    f = factor.to(device=x.device, dtype=x.dtype).view(-1, *([1] * (x.dim() - 1)))
    return f * x + (1 - f) * x[partner]
