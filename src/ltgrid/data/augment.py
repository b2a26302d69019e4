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


def cutout_centres(n: int, height: int, width: int, holes: int, generator: torch.Generator) -> Tensor:
    """(2 * holes, n) CPU centres (rows, then cols, per hole), uniform over the image's pixels."""
    rows = torch.randint(0, height, (holes, n), generator=generator)
    cols = torch.randint(0, width, (holes, n), generator=generator)
    return torch.cat([rows, cols])


def cutout_at(x: Tensor, length: int, centres: Tensor) -> Tensor:
    """Zero, in each image, the squares [c - length//2, c + length//2) around its centres, clipped
    at the borders (DeVries & Taylor 2017, as their code cuts: an odd length loses one pixel).
    x: uint8 (N, C, H, W), before normalisation; centres (2 * holes, N) on x's device."""
    _, _, h, w = x.shape
    holes, half = centres.shape[0] // 2, length // 2
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    cut = torch.zeros(x.shape[0], h, w, dtype=torch.bool, device=x.device)
    for k in range(holes):
        cy, cx = centres[k][:, None, None], centres[holes + k][:, None, None]
        cut |= (rows >= cy - half) & (rows < cy + half) & (cols >= cx - half) & (cols < cx + half)
    return x.masked_fill(cut[:, None], 0)


def rotation_draws(n: int, degrees: float, generator: torch.Generator) -> Tensor:
    """n CPU angles uniform in [-degrees, degrees] (torchvision's RandomRotation(degrees))."""
    return (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1) * degrees


def rotation_matrices(degrees: Tensor, height: int, width: int) -> Tensor:
    """(N, 2, 3) float64 maps from output to input coordinates of a counter-clockwise rotation by
    `degrees` about the image centre, in PIL's convention (Image.rotate, which torchvision's
    RandomRotation calls): (0, 0) is the image's top-left corner, pixel (r, c) has its centre at
    (c + 0.5, r + 0.5)."""
    a = -torch.deg2rad(degrees.double())
    cos, sin = torch.cos(a), torch.sin(a)
    cx, cy = width / 2.0, height / 2.0
    row0 = torch.stack([cos, sin, cx - cos * cx - sin * cy], dim=1)
    row1 = torch.stack([-sin, cos, cy + sin * cx - cos * cy], dim=1)
    return torch.stack([row0, row1], dim=1)


def rotate_at(x: Tensor, degrees: Tensor, fill: int = 0) -> Tensor:
    """Rotate each image by its angle (N,) counter-clockwise about its centre, nearest, `fill`
    outside (torchvision's RandomRotation on a PIL image: PIL's Image.rotate, fill 0)."""
    return warp_nearest(x, rotation_matrices(degrees, x.shape[2], x.shape[3]), fill)


def _gather(x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """x[n, :, rows[n, i, j], cols[n, i, j]] for index maps (N, H, W) -> (N, C, H, W)."""
    n, c, h, w = x.shape
    flat = (rows * w + cols).reshape(n, 1, -1).expand(n, c, -1).contiguous()  # contiguous: 3x faster on the CPU
    return x.reshape(n, c, h * w).gather(2, flat).reshape(n, c, *rows.shape[1:])


def warp_nearest(x: Tensor, matrices: Tensor, fill: int) -> Tensor:
    """PIL's nearest affine resampling (Image.transform(AFFINE), Image.rotate) of uint8 images
    (N, C, H, W): the maps (N, 2, 3) give input coordinates (a c' + b r' + c, d c' + e r' + f) of
    the output pixel centres (c' = c + 0.5, r' = r + 0.5) in 16.16 fixed point, as PIL's
    affine_fixed computes them, floored; `fill` where that lands outside the image."""
    n, _, h, w = x.shape
    m = matrices.to(x.device, torch.float64)
    fix = lambda v: torch.floor(v * 65536.0 + 0.5).long()  # noqa: E731
    a, b, d, e = fix(m[:, 0, 0]), fix(m[:, 0, 1]), fix(m[:, 1, 0]), fix(m[:, 1, 1])
    c0 = fix(m[:, 0, 2] + (m[:, 0, 0] + m[:, 0, 1]) * 0.5)
    f0 = fix(m[:, 1, 2] + (m[:, 1, 0] + m[:, 1, 1]) * 0.5)
    rr = torch.arange(h, device=x.device).view(1, h, 1)
    cc = torch.arange(w, device=x.device).view(1, 1, w)
    view = lambda t: t.view(n, 1, 1)  # noqa: E731
    cols = (view(c0) + cc * view(a) + rr * view(b)) >> 16
    rows = (view(f0) + cc * view(d) + rr * view(e)) >> 16
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    out = _gather(x, rows.clamp(0, h - 1), cols.clamp(0, w - 1))
    return torch.where(inside[:, None], out, torch.full_like(out, fill))


def _cubic(v1: Tensor, v2: Tensor, v3: Tensor, v4: Tensor, t: Tensor) -> Tensor:
    """PIL's cubic through taps at -1, 0, 1, 2, at fraction t, in its Horner form (Geometry.c BICUBIC, a = -1)."""
    return v2 + t * ((v3 - v1) + t * ((2 * (v1 - v2) + v3 - v4) + t * (v2 - v1 - v3 + v4)))


def shear_bicubic(x: Tensor, shear: Tensor, fill: int) -> Tensor:
    """PIL's bicubic shear along x (Image.transform(AFFINE, (1, v, 0, 0, 1, 0), BICUBIC)) of uint8
    images (N, C, H, W), one coefficient v per image: output pixel (r, c) reads the input at
    x = c + 0.5 + v (r + 0.5) on its own row, in double; `fill` outside the image; inside, PIL's
    cubic through the 4 taps around it (clamped at the borders), clipped to [0, 255] and truncated.
    PIL interpolates in 2-D, but the row coordinate lands on a pixel centre (fraction 0), where its
    vertical cubic returns that row exactly: the 1-D form is the same, at a quarter of the work."""
    n, ch, h, w = x.shape
    rr = (torch.arange(h, device=x.device, dtype=torch.float64) + 0.5).view(1, h, 1)
    cc = (torch.arange(w, device=x.device, dtype=torch.float64) + 0.5).view(1, 1, w)
    xin = cc + shear.to(x.device, torch.float64).view(n, 1, 1) * rr  # (N, H, W)
    inside = (xin >= 0) & (xin < w)
    x0 = torch.floor(xin - 0.5)
    t = (xin - 0.5 - x0)[:, None]
    taps = [x.gather(3, (x0.long() + i - 1).clamp(0, w - 1)[:, None].expand(n, ch, h, w).contiguous()).double()
            for i in range(4)]
    out = _cubic(*taps, t).clamp_(0, 255).to(torch.uint8)
    return torch.where(inside[:, None], out, torch.full_like(out, fill))
