"""GLMC's global (mixup) and local (CutMix) mixtures of a batch with a re-balanced batch (Du et al., CVPR 2023).

What the authors' code does (ynu-yangpeng/GLMC, GLMC-2023/main.py, Trainer.py, utils/util.py):

- each uniform batch (a shuffled epoch) comes with a batch from a second loader that draws
  N images with replacement, P(i) proportional to n_{y_i}^-q (`--resample_weighting` q;
  q = 0 is uniform with replacement), cut to the uniform batch's size; the two loaders run
  side by side, so batch b pairs with batch b;
- every image is seen in two independently augmented views (`TwoCropTransform`);
- one lam ~ Beta(alpha, alpha) per batch (`GLMC_mixed`, alpha = 1);
- global: x_mix = lam x1 + (1 - lam) r1 (view 1 of the batch, view 1 of the partners);
- local: x_cut = x2 with the box [r1, r2) x [c1, c2) taken from r2 (`rand_bbox`: side
  ceil(S sqrt(1 - lam)), centre uniform on the grid, corners centre -+ side // 2 clipped to
  the image; one box for the whole batch); its label weight is lam as drawn, not the box's
  area (their `lam_cutmix = lam`).

Here the partner draw is `streams` (rows: batch, batch, partners, partners, so the feed
augments each of the four on its own), lam and the box centre are `draw` (one per batch, on the
CPU; the centre, uniform in [0, 1)^2, becomes a pixel in `apply`, which sees the image size),
and `apply` builds the two mixtures with tensor ops: a MixedBatch of 2B images,
[x_mix; x_cut], labels y_a = [y; y], y_b = [y_r; y_r], weight lam. The GLMC loss
(methods/losses/glmc.py) pairs row i with row i + B for its consistency term.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ltgrid.methods.base import Draws, MixedBatch, Mixing
from ltgrid.methods.mixing.draws import beta_draws

VIEWS = 4  # the batch twice, its partners twice


def resample_probs(labels: Tensor, class_counts: Tensor, q: float) -> Tensor:
    """P(i) proportional to n_{y_i}^-q over the training positions (main.py's WeightedRandomSampler)."""
    weights = class_counts.to(torch.float64)[labels] ** (-q)
    return weights / weights.sum()


def centre_box(lam: Tensor, centre: Tensor, height: int, width: int) -> Tensor:
    """(N, 4) boxes (r1, r2, c1, c2) of `rand_bbox`: sides ceil(H sqrt(1 - lam)) and ceil(W sqrt(1 - lam)),
    centre (floor(u_r H), floor(u_c W)) for u uniform in [0, 1) (a uniform grid cell), corners
    centre -+ side // 2 clipped to the image. Tensor ops on lam's device (no host reads)."""
    ratio = torch.sqrt(1.0 - lam.to(torch.float64))
    sizes = torch.tensor([height, width], dtype=torch.float64, device=lam.device)
    sides = torch.ceil(ratio[:, None] * sizes).long()  # (N, 2)
    centres = torch.floor(centre.to(torch.float64) * sizes).long()
    half, hi = sides // 2, sizes.long()
    low = torch.minimum((centres - half).clamp_min(0), hi)
    high = torch.minimum((centres + half).clamp_min(0), hi)
    return torch.stack([low[:, 0], high[:, 0], low[:, 1], high[:, 1]], dim=1)


def box_mask(box: Tensor, height: int, width: int) -> Tensor:
    """(N, 1, H, W) booleans, True inside each row's box (r1, r2, c1, c2), on the box's device."""
    rows = torch.arange(height, device=box.device)[None, :, None]
    cols = torch.arange(width, device=box.device)[None, None, :]
    r1, r2, c1, c2 = (box[:, k, None, None] for k in range(4))
    return ((rows >= r1) & (rows < r2) & (cols >= c1) & (cols < c2))[:, None]


class GlmcMixing(Mixing):
    """Global mixup and local CutMix with re-balanced partners (see the module docstring)."""

    def __init__(self, class_counts: Tensor, alpha: float, resample_weighting: float) -> None:
        super().__init__(class_counts)
        self.alpha, self.q = float(alpha), float(resample_weighting)

    def streams(self, order: Tensor, labels: Tensor, generator: torch.Generator) -> Tensor:
        probs = resample_probs(labels, self.class_counts, self.q)
        partners = torch.multinomial(probs, len(order), replacement=True, generator=generator)
        return torch.stack([order, order, partners, partners])

    def draw(self, y: Tensor, generator: torch.Generator) -> Draws:
        """One lam and one box centre for the batch, repeated on its rows (the trainer slices draws by
        row); the centre is (u_r, u_c) uniform in [0, 1), made a pixel in `apply`, which sees the images."""
        n = len(y)
        lam = beta_draws(1, self.alpha, generator).expand(n).clone()
        centre = torch.rand(2, generator=generator, dtype=torch.float64).expand(n, 2).clone()
        return {"lam": lam, "centre": centre}

    def apply(self, x: Tensor, y: Tensor, draws: Draws) -> MixedBatch:
        b = len(y) // VIEWS
        x1, x2, r1, r2 = x[:b], x[b : 2 * b], x[2 * b : 3 * b], x[3 * b :]
        y_a, y_b = y[:b], y[2 * b : 3 * b]
        lam = draws["lam"][:b].to(x.dtype)
        mix = lam.view(-1, 1, 1, 1) * x1 + (1 - lam.view(-1, 1, 1, 1)) * r1
        box = centre_box(draws["lam"][:b], draws["centre"][:b], x.shape[2], x.shape[3])
        cut = torch.where(box_mask(box, x.shape[2], x.shape[3]), r2, x2)
        return MixedBatch(torch.cat([mix, cut]), torch.cat([y_a, y_a]), torch.cat([y_b, y_b]), torch.cat([lam, lam]))
