"""Balanced Product of Experts (BalPoE; Sanchez Aimar et al., CVPR 2023): logit-adjusted experts, averaged.

The model returns K experts' logits z_k (N, K, C) (models/multi_expert.py); expert k targets the
class prior pi^{lambda_k} and is trained with the logit-adjusted cross-entropy

    l_k(x, y) = CE(s z_k + (1 - lambda_k) log pi, y),      l(x, y) = (1/K) sum_k l_k(x, y),

as the authors' `BSExpertLoss` (emasa/BalPoE-CalibratedLT, model/loss.py): their `tau_list`
[0, 1, 2] is 1 - lambda for lambdas [1, 0, -1], and the expert losses are averaged. `s` is the
cosine classifiers' scale (their `ResNet_s`, `s=30` with `use_norm`). Since s z_k estimates
log p(x|y) + lambda_k log pi up to a per-image constant, the product of the experts (the mean
of their logits) estimates log p(x|y) + lambda_bar log pi; prediction under a test prior p_t is

    z_eval = (s/K) sum_k z_k - lambda_bar log pi + log p_t.

With lambda_bar = 0 (their configs) and a uniform p_t this is the plain mean of the experts'
logits (their test.py); with a known p_t it adds log p_t, their `--posthoc_bias_correction`
(utils/util.py adjusted_model_wrapper). A uniform p_t adds no constant here.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ltgrid.errors import PartError
from ltgrid.methods.base import Loss


class BalancedPoE(Loss):
    """Logit-adjusted CE per expert, averaged; eval logits: the experts' mean, bias-corrected."""

    needs_normed_classifier: ClassVar[bool] = True  # the authors' CIFAR configs: use_norm true, s = 30

    def __init__(self, class_counts: Tensor, lambdas: list[float], s: float, test_prior: list[float] | None = None) -> None:
        super().__init__(class_counts)
        lam = torch.as_tensor(lambdas, dtype=torch.float64)
        self.num_experts = len(lam)
        self.s = float(s)
        log_pi = self.log_prior64
        # expert k's training shift (1 - lambda_k) log pi, (K, C), rounded to float32 once
        self.register_buffer("expert_shift", ((1 - lam)[:, None] * log_pi[None]).to(torch.float32))
        test_bias = -lam.mean() * log_pi
        if test_prior is not None:
            p = torch.as_tensor(test_prior, dtype=torch.float64)
            if p.shape != (self.num_classes,):  # the catalog checked the values are positive numbers
                raise PartError(f"balpoe test_prior must be {self.num_classes} positive numbers, got {test_prior}")
            test_bias = test_bias + torch.log(p / p.sum())
        self.register_buffer("test_bias", test_bias.to(torch.float32))

    def expert_logits(self, outputs: Tensor) -> Tensor:
        """s z_k for every expert, (N, K, C); refuses any other shape."""
        if outputs.dim() != 3 or outputs.shape[1:] != (self.num_experts, self.num_classes):
            raise ValueError(f"balpoe needs the experts' logits of shape (N, {self.num_experts}, {self.num_classes}), "
                             f"got {tuple(outputs.shape)}")
        return self.s * outputs

    def per_sample(self, logits: Tensor, target: Tensor) -> Tensor:
        z = self.expert_logits(logits) + self.expert_shift.to(logits.dtype)
        n, k, c = z.shape
        ce = F.cross_entropy(z.reshape(n * k, c), target.repeat_interleave(k), reduction="none")
        return ce.view(n, k).mean(1)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        loss = self.per_sample(logits, target)  # checks the (N, K, C) shape
        return loss * self.class_weight.to(loss.dtype)[target]

    def joint_logits(self, outputs: Tensor) -> Tensor:
        """The product of experts, (s/K) sum_k z_k: training accuracy is taken on it."""
        return self.expert_logits(outputs).mean(1)

    def eval_logits(self, logits: Tensor) -> Tensor:
        """The experts' mean with the test-time bias -lambda_bar log pi + log p_t (then any post-hoc tau)."""
        return super().eval_logits(logits) + self.test_bias.to(logits.device, logits.dtype)
