"""Batched augmentation as tensor ops on the device: no per-image Python, seeded generators.

Random draws come from a CPU generator (so results do not depend on the device's RNG)
and only the small per-sample offsets travel to the device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def crop_offsets(n: int, padding: int, generator: torch.Generator) -> Tensor:
    """(2, n) CPU offsets (rows, cols) in [0, 2 * padding] of n padded crops."""
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    return torch.stack([oy, ox])


def flip_draws(n: int, generator: torch.Generator) -> Tensor:
    """n CPU booleans, each True with probability 1/2."""
    return torch.rand(n, generator=generator) < 0.5


def crop_at(x: Tensor, padding: int, offsets: Tensor) -> Tensor:
    """Zero-pad by `padding` and crop back to (H, W) at `offsets` (2, N) on x's device. x: (N, C, H, W)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = (offsets[0][:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (N,1,H,1)
    cols = (offsets[1][:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (N,1,1,W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def flip_at(x: Tensor, flip: Tensor) -> Tensor:
    """Flip left-right the images whose `flip` (N,) is True (on x's device)."""
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def normalize(x_uint8: Tensor, mean: Tensor, std: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 (N, C, H, W) -> float, per-channel standardised."""
    return (x_uint8.to(dtype) / 255.0 - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
