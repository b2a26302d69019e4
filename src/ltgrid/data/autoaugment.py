"""AutoAugment (Cubuk et al., CVPR 2019), the CIFAR-10 policy, batched on the device.

The policy is 25 sub-policies of two operations, each (probability, magnitude bin 0-9). Per
image, one sub-policy is drawn uniformly and each of its operations fires with its probability.
The long-tailed methods that use it (BalPoE, PaCo, GLMC's helper file) take the PIL
`CIFAR10Policy` of DeepVoltaire/AutoAugment; this module follows that class's magnitudes and
conventions (emasa/BalPoE-CalibratedLT dataset/autoaugm.py, ynu-yangpeng/GLMC
GLMC-2023/utils/autoaug.py), where they differ from torchvision's `AutoAugment`: geometric
operations fill with grey 128 (torchvision: 0), shears are bicubic (torchvision: nearest), the
rotation turns counter-clockwise only (torchvision: either way), solarize thresholds run
256..0 (torchvision: 255..0). The policy table itself is the same as torchvision's.

Every random choice is made on the CPU by `draw` from the cell's generator when the epoch is
planned; `group` sorts each batch's images by operation, so the step applies each operation
once to its images (index tensors on the device, group sizes as Python ints), with no host read.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ltgrid.data.augment import rotation_matrices, shear_bicubic, warp_nearest

OPS = (
    "shearX", "shearY", "translateX", "translateY", "rotate", "color", "posterize", "solarize",
    "contrast", "sharpness", "brightness", "autocontrast", "equalize", "invert",
)
NONE = len(OPS)  # the group key of an operation that does not fire


def _linspace(start: float, stop: float) -> tuple[float, ...]:
    return tuple(start + (stop - start) * i / 9 for i in range(10))


# Magnitude of each bin 0-9 (DeepVoltaire's ranges): shear as the affine coefficient, translate as
# a fraction of the image side (150/331 at bin 9), rotate in degrees, enhancements as the factor's
# distance from 1, posterize as bits kept, solarize as the threshold.
MAGNITUDES: dict[str, tuple[float, ...]] = {
    "shearX": _linspace(0, 0.3), "shearY": _linspace(0, 0.3),
    "translateX": _linspace(0, 150 / 331), "translateY": _linspace(0, 150 / 331),
    "rotate": _linspace(0, 30),
    "color": _linspace(0, 0.9), "contrast": _linspace(0, 0.9),
    "sharpness": _linspace(0, 0.9), "brightness": _linspace(0, 0.9),
    "posterize": tuple(float(round(v)) for v in _linspace(8, 4)),
    "solarize": _linspace(256, 0),
    "autocontrast": (0.0,) * 10, "equalize": (0.0,) * 10, "invert": (0.0,) * 10,
}
SIGNED = frozenset({"shearX", "shearY", "translateX", "translateY", "color", "contrast", "sharpness", "brightness"})

# (p1, op1, bin1, p2, op2, bin2): the CIFAR-10 policy (Cubuk et al. 2019, appendix table).
CIFAR10 = (
    (0.1, "invert", 7, 0.2, "contrast", 6), (0.7, "rotate", 2, 0.3, "translateX", 9),
    (0.8, "sharpness", 1, 0.9, "sharpness", 3), (0.5, "shearY", 8, 0.7, "translateY", 9),
    (0.5, "autocontrast", 8, 0.9, "equalize", 2), (0.2, "shearY", 7, 0.3, "posterize", 7),
    (0.4, "color", 3, 0.6, "brightness", 7), (0.3, "sharpness", 9, 0.7, "brightness", 9),
    (0.6, "equalize", 5, 0.5, "equalize", 1), (0.6, "contrast", 7, 0.6, "sharpness", 5),
    (0.7, "color", 7, 0.5, "translateX", 8), (0.3, "equalize", 7, 0.4, "autocontrast", 8),
    (0.4, "translateY", 3, 0.2, "sharpness", 6), (0.9, "brightness", 6, 0.2, "color", 8),
    (0.5, "solarize", 2, 0.0, "invert", 3), (0.2, "equalize", 0, 0.6, "autocontrast", 0),
    (0.2, "equalize", 8, 0.6, "equalize", 4), (0.9, "color", 9, 0.6, "equalize", 6),
    (0.8, "autocontrast", 4, 0.2, "solarize", 8), (0.1, "brightness", 3, 0.7, "color", 0),
    (0.4, "solarize", 5, 0.9, "autocontrast", 3), (0.9, "translateY", 9, 0.7, "translateY", 9),
    (0.9, "autocontrast", 2, 0.8, "solarize", 3), (0.8, "equalize", 8, 0.1, "invert", 3),
    (0.7, "translateY", 9, 0.9, "autocontrast", 1),
)
POLICIES = {"cifar10": CIFAR10}
GREY = 128  # fill of the geometric operations (DeepVoltaire's fillcolor)


def draw(n: int, policy: str, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per image and slot (2, n): the operation (index into OPS, NONE when it does not fire) and
    its signed magnitude (float64), drawn on the CPU: sub-policy, two coin flips, two signs."""
    table = POLICIES[policy]
    sub = torch.randint(0, len(table), (n,), generator=generator)
    coins = torch.rand(2, n, generator=generator, dtype=torch.float64)
    signs = torch.randint(0, 2, (2, n), generator=generator) * 2 - 1
    ops, probs, values = torch.empty(2, len(table), dtype=torch.int64), torch.empty(2, len(table), dtype=torch.float64), torch.empty(2, len(table), dtype=torch.float64)
    for i, (p1, op1, bin1, p2, op2, bin2) in enumerate(table):
        for slot, (p, op, b) in enumerate(((p1, op1, bin1), (p2, op2, bin2))):
            ops[slot, i], probs[slot, i], values[slot, i] = OPS.index(op), p, MAGNITUDES[op][b]
    chosen = ops[:, sub]
    fires = coins < probs[:, sub]
    signed = torch.tensor([name in SIGNED for name in OPS])[chosen]
    value = values[:, sub] * torch.where(signed, signs, 1)
    return torch.where(fires, chosen, NONE), value


def group(ops: Tensor, batch_size: int) -> tuple[Tensor, list[list[tuple[int, int, int, int]]]]:
    """Sort each batch's images by operation, per slot: (2, n) positions within their batch, and
    per batch the groups (slot, op, start, count) of images that one call of the op transforms."""
    n = ops.shape[1]
    batch = torch.arange(n) // batch_size
    starts = batch * batch_size
    groups: list[list[tuple[int, int, int, int]]] = [[] for _ in range(int(batch[-1]) + 1 if n else 0)]
    local = torch.empty_like(ops)
    for slot in range(ops.shape[0]):
        key = batch * (NONE + 1) + ops[slot]
        order = torch.sort(key, stable=True).indices
        local[slot] = order - starts
        counts = torch.bincount(key, minlength=len(groups) * (NONE + 1)).view(len(groups), NONE + 1).tolist()
        for b, row in enumerate(counts):
            start = 0
            for op, count in enumerate(row):
                if count and op != NONE:
                    groups[b].append((slot, op, start, count))
                start += count
    return local, groups


def apply(x: Tensor, local: Tensor, values: Tensor, groups: list[tuple[int, int, int, int]]) -> Tensor:
    """One batch's planned operations: x uint8 (B, C, H, W); local (2, B) sorted positions and
    values (2, B) magnitudes on x's device; groups from `group` (plain ints: no host read)."""
    x = x.clone()
    for slot, op, start, count in groups:
        idx = local[slot, start : start + count]
        x[idx] = FUNCTIONS[OPS[op]](x[idx], values[slot, idx])
    return x


# --- the operations: uint8 (k, C, H, W) and one magnitude per image (k,) -> uint8 (k, C, H, W) ---


def _blend(degenerate: Tensor, x: Tensor, factor: Tensor) -> Tensor:
    """PIL's Image.blend(degenerate, x, factor): degenerate + factor (x - degenerate), clipped, truncated."""
    out = degenerate.float() + factor.float().view(-1, 1, 1, 1) * (x.float() - degenerate.float())
    return out.clamp_(0, 255).to(torch.uint8)


def grey(x: Tensor) -> Tensor:
    """PIL's convert("L"): (19595 R + 38470 G + 7471 B + 2^15) >> 16 (ITU-R 601-2, fixed point); (k, 1, H, W)."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.long().unbind(1)  # weights as Python ints: no host-to-device copy in the step
    return ((r * 19595 + g * 38470 + b * 7471 + 32768) >> 16).to(torch.uint8)[:, None]


def color(x: Tensor, v: Tensor) -> Tensor:
    """ImageEnhance.Color(1 + v): blend with the image's grey version."""
    return _blend(grey(x).expand_as(x), x, 1 + v)


def contrast(x: Tensor, v: Tensor) -> Tensor:
    """ImageEnhance.Contrast(1 + v): blend with a flat image at the grey mean, rounded half up."""
    mean = (grey(x).double().mean(dim=(1, 2, 3)) + 0.5).floor()
    return _blend(mean.view(-1, 1, 1, 1).expand_as(x), x, 1 + v)


def brightness(x: Tensor, v: Tensor) -> Tensor:
    """ImageEnhance.Brightness(1 + v): blend with black."""
    return _blend(torch.zeros_like(x), x, 1 + v)


def sharpness(x: Tensor, v: Tensor) -> Tensor:
    """ImageEnhance.Sharpness(1 + v): blend with PIL's SMOOTH filter ([[1,1,1],[1,5,1],[1,1,1]] / 13,
    rounded; border pixels kept)."""
    k, c, h, w = x.shape
    kernel = torch.ones(1, 1, 3, 3, device=x.device)  # made on the device: no host-to-device copy in the step
    kernel[0, 0, 1, 1] = 5.0
    smooth = torch.nn.functional.conv2d(x.float().reshape(k * c, 1, h, w), kernel / 13).reshape(k, c, h - 2, w - 2)
    degenerate = x.clone()
    degenerate[:, :, 1:-1, 1:-1] = smooth.round_().clamp_(0, 255).to(torch.uint8)
    return _blend(degenerate, x, 1 + v)


def posterize(x: Tensor, bits: Tensor) -> Tensor:
    """ImageOps.posterize: keep the `bits` high bits of every channel value."""
    mask = (255 - (2 ** (8 - bits.round().long()) - 1)).to(torch.uint8)
    return x & mask.view(-1, 1, 1, 1)


def solarize(x: Tensor, threshold: Tensor) -> Tensor:
    """ImageOps.solarize: invert the values at or above the threshold."""
    return torch.where(x.float() >= threshold.view(-1, 1, 1, 1), 255 - x, x)


def invert(x: Tensor, v: Tensor) -> Tensor:
    """ImageOps.invert: 255 - value."""
    return 255 - x


def autocontrast(x: Tensor, v: Tensor) -> Tensor:
    """ImageOps.autocontrast (cutoff 0): per channel, stretch [lo, hi] to [0, 255] as PIL's table
    does, in double: floor(value * s - lo * s) with s = 255 / (hi - lo); a flat channel is kept."""
    lo = x.amin(dim=(2, 3), keepdim=True).double()
    hi = x.amax(dim=(2, 3), keepdim=True).double()
    span = (hi - lo).clamp_min(1)
    scale = torch.full_like(span, 255.0) / span  # not 255.0 / span: torch takes that as 255 * (1 / span)
    out = (x.double() * scale + (-lo * scale)).floor_().clamp_(0, 255)
    return torch.where(hi > lo, out, x.double()).to(torch.uint8)


def equalize(x: Tensor, v: Tensor) -> Tensor:
    """ImageOps.equalize, per channel: with h the histogram and step = (pixels - h[highest value
    present]) // 255, value i maps to (step // 2 + sum of h below i) // step, at most 255; the
    channel is left as it is when step is 0."""
    k, c, h, w = x.shape
    flat = x.reshape(k, c, h * w).long()
    hist = torch.zeros(k, c, 256, dtype=torch.int64, device=x.device).scatter_add_(2, flat, torch.ones_like(flat))
    top = hist.gather(2, flat.amax(dim=2, keepdim=True))
    step = (h * w - top) // 255
    below = hist.cumsum(2) - hist
    lut = ((step // 2 + below) // step.clamp_min(1)).clamp_max(255)
    out = lut.gather(2, flat).reshape(k, c, h, w)
    return torch.where(step.view(k, c, 1, 1) > 0, out, x.long()).to(torch.uint8)


def _affine(x: Tensor, a: Tensor, b: Tensor, c: Tensor, d: Tensor, e: Tensor, f: Tensor) -> Tensor:
    """PIL's nearest Image.transform(AFFINE, (a, b, c, d, e, f)), grey fill: out(x, y) = in(ax + by + c, dx + ey + f)."""
    matrices = torch.stack([torch.stack([a, b, c], 1), torch.stack([d, e, f], 1)], 1)
    return warp_nearest(x, matrices, GREY)


def shear_x(x: Tensor, v: Tensor) -> Tensor:
    """Shear along x about the top-left corner (PIL affine (1, v, 0, 0, 1, 0), bicubic)."""
    return shear_bicubic(x, v, GREY)


def shear_y(x: Tensor, v: Tensor) -> Tensor:
    """Shear along y about the top-left corner (PIL affine (1, 0, 0, v, 1, 0), bicubic): shear_x of the transpose."""
    return shear_bicubic(x.transpose(2, 3).contiguous(), v, GREY).transpose(2, 3).contiguous()


def translate_x(x: Tensor, v: Tensor) -> Tensor:
    """Shift by v * width pixels (PIL affine (1, 0, v W, 0, 1, 0), nearest): content moves left for v > 0."""
    one, zero = torch.ones_like(v), torch.zeros_like(v)
    return _affine(x, one, zero, v * x.shape[3], zero, one, zero)


def translate_y(x: Tensor, v: Tensor) -> Tensor:
    """Shift by v * height pixels (PIL affine (1, 0, 0, 0, 1, v H), nearest): content moves up for v > 0."""
    one, zero = torch.ones_like(v), torch.zeros_like(v)
    return _affine(x, one, zero, zero, zero, one, v * x.shape[2])


def rotate(x: Tensor, v: Tensor) -> Tensor:
    """Rotate v degrees counter-clockwise about the centre (PIL Image.rotate, nearest), grey fill."""
    return warp_nearest(x, rotation_matrices(v, x.shape[2], x.shape[3]), GREY)


FUNCTIONS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "shearX": shear_x, "shearY": shear_y, "translateX": translate_x, "translateY": translate_y,
    "rotate": rotate, "color": color, "posterize": posterize, "solarize": solarize, "contrast": contrast,
    "sharpness": sharpness, "brightness": brightness, "autocontrast": autocontrast, "equalize": equalize,
    "invert": invert,
}
