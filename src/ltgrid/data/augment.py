"""Batched augmentation as tensor ops on the device: no per-image Python, seeded generators.

Random draws come from a CPU generator (so results do not depend on the device's RNG)
and only the small per-sample offsets travel to the device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop(x: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """Zero-pad by `padding` and crop back to (H, W) at a random offset per image. x: (N, C, H, W)."""
    if padding <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (N,1,H,1)
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (N,1,1,W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def random_hflip(x: Tensor, generator: torch.Generator) -> Tensor:
    """Flip each image left-right with probability 1/2."""
    flip = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def normalize(x_uint8: Tensor, mean: Tensor, std: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 (N, C, H, W) -> float, per-channel standardised."""
    return (x_uint8.to(dtype) / 255.0 - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
