"""Label-aware smoothing (Zhong et al., CVPR 2021, MiSLAS section 3.2).

Each class y gets its own smoothing factor eps_y, larger for frequent classes (whose
predictions are the most over-confident), from eps_K for the rarest class to eps_1 for
the most frequent. With x_y = (n_y - n_K) / (n_1 - n_K) in [0, 1]:

    concave  eps_y = eps_K + (eps_1 - eps_K) * sin(pi/2 * x_y)
    linear   eps_y = eps_K + (eps_1 - eps_K) * x_y
    convex   eps_y = eps_1 + (eps_1 - eps_K) * sin(3pi/2 + pi/2 * x_y)

and the loss of a sample is (1 - eps_y) * (-log p_y) + eps_y * mean_k(-log p_k), i.e.
CE against the target (1 - eps_y) * onehot(y) + eps_y / C. The authors' CIFAR runs use
the concave shape (eps_1 = head, eps_K = tail).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ltgrid.methods.base import Loss

SHAPES = ("concave", "linear", "convex")


def label_aware_epsilons(class_counts: Tensor, head: float, tail: float, shape: str = "concave") -> Tensor:
    """eps_y per class from the counts (float64); equal counts give eps = tail for every class."""
    for name, value in (("head", head), ("tail", tail)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
            raise ValueError(f"las {name} must be a number in [0, 1), got {value!r}")
    if shape not in SHAPES:
        raise ValueError(f"las shape {shape!r} is not one of {', '.join(SHAPES)}")
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    span = counts.max() - counts.min()
    x = (counts - counts.min()) / span if float(span) > 0 else torch.zeros_like(counts)
    if shape == "concave":
        return tail + (head - tail) * torch.sin(math.pi / 2 * x)
    if shape == "linear":
        return tail + (head - tail) * x
    return head + (head - tail) * torch.sin(3 * math.pi / 2 + math.pi / 2 * x)


class LabelAwareSmoothing(Loss):
    """(1 - eps_y) * (-log p_y) + eps_y * mean_k(-log p_k), eps_y from the class counts."""

    def __init__(self, class_counts: Tensor, head: float, tail: float, shape: str) -> None:
        super().__init__(class_counts)
        self.register_buffer("epsilon", label_aware_epsilons(self.class_counts, head, tail, shape).to(torch.float32))

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        log_p = F.log_softmax(logits, dim=1)
        eps = self.epsilon.to(logits.dtype)[target]
        nll = -log_p.gather(1, target[:, None]).squeeze(1)
        return (1 - eps) * nll + eps * (-log_p.mean(dim=1))
