"""A cell's training stages. Stage 1 trains the whole network with the method's parts; a method
with `stage2` then trains the classifier, LWS scales or both on a frozen backbone (cRT, LWS,
MiSLAS, LOS, weight balancing's fine-tuning). Tau-normalisation trains nothing: it is a post-hoc
step on the finished classifier (`tau_norm_step`), run once after the stages."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from ltgrid.methods import mixed_loss
from ltgrid.methods.compose import Method
from ltgrid.methods.head import decay_groups
from ltgrid.methods.samplers import SAMPLERS
from ltgrid.methods.stage2 import ScaledClassifier, max_norm_project, max_norm_radius, select_tau, tau_grid, tau_normalize
from ltgrid.train.loop import Stage
from ltgrid.train.optim import lr_at


def stage_one(model: nn.Module, method: Method, recipe: dict[str, Any], frozen: Sequence[nn.Parameter] = (),
              no_decay: Sequence[nn.Parameter] = ()) -> Stage:
    """The whole network with the method's parts, from a resolved recipe (params.fill_recipe);
    `frozen` (LWS scales) waits for stage 2; `no_decay` (a sigmoid loss's classifier bias,
    methods/head.py) trains without weight decay."""
    schedule = recipe["lr_schedule"]
    optimizer = {**recipe["optimizer"], **method.optimizer}
    base_lr = optimizer["lr"]
    return Stage(
        name="stage1",
        epochs=recipe["epochs"],
        lr=lambda e: lr_at(e, base_lr, schedule["warmup_epochs"], schedule["steps"],
                           recipe["epochs"] if schedule.get("cosine") else None),
        sampler=method.sampler,
        params=decay_groups([p for p in model.parameters() if all(p is not f for f in frozen)], no_decay),
        forward=model,
        mixing=True,
        loss=method.loss_value,
        optimizer=optimizer,
        joint=method.joint_logits,
    )


@dataclass
class PostHoc:
    """A step on the finished model that trains nothing (tau-normalisation): `apply` changes the
    model and returns what it chose, for the run record."""

    name: str
    apply: Callable[[], dict[str, Any]]


def tau_norm_step(model: nn.Module, method: Method, val_accuracy: Callable[[], float] | None) -> PostHoc:
    """Rescale the classifier rows by ||w_c||^tau, bias dropped; tau chosen on the validation set
    (`val_accuracy` scores the model as it stands) when there is one and the spec gives a range."""
    spec = method.stage2
    assert spec is not None
    classifier = model.classifier

    def tau_norm() -> dict[str, Any]:
        info: dict[str, Any] = {}
        with torch.no_grad():
            weight = classifier.weight.detach().clone()
            if getattr(classifier, "bias", None) is not None:
                classifier.bias.zero_()
            tau = float(spec.tau)
            if val_accuracy is not None and spec.tau_range is not None:
                def score(w: Tensor) -> float:
                    classifier.weight.copy_(w)
                    return val_accuracy()

                taus = tau_grid(spec.tau_range)
                tau, scores = select_tau(weight, taus, score)
                info.update(tau_val_acc=max(scores), tau_scores=dict(zip(map(str, taus), scores)))
            classifier.weight.copy_(tau_normalize(weight, tau))
            info["tau"] = tau
        return info

    return PostHoc("tau_norm", tau_norm)


def prepare_classifier(model: nn.Module, method: Method) -> list[nn.Parameter]:
    """Give the model what its stage 2 keeps in checkpoints (LWS scales, the MaxNorm radius);
    returns the parameters stage 1 must leave alone."""
    spec = method.stage2
    if spec is None:
        return []
    device = next(model.parameters()).device
    if spec.max_norm is not None:
        model.register_buffer("max_norm_radius", torch.tensor(float("inf"), device=device))
    if not spec.scaled:
        return []
    model.classifier = ScaledClassifier(model.classifier, model.classifier.weight.shape[0]).to(device)
    return [model.classifier.scales]


def frozen_backbone(model: nn.Module, shift_bn: bool) -> Callable[[Tensor], Tensor]:
    """Logits from features computed without gradients; the backbone's batch norms keep stage 1's
    statistics, or with `shift_bn` run in training mode so they re-estimate them on these batches."""
    norms = [m for name, m in model.named_modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and not name.startswith("classifier")]

    def forward(x: Tensor) -> Tensor:
        model.eval()
        for module in norms if shift_bn else ():
            module.train()
        with torch.no_grad():
            feats = model.forward_features(x)
        return model.classifier(feats)

    return forward


def stage_two(model: nn.Module, method: Method, counts: Tensor, recipe: dict[str, Any]) -> Stage:
    """A frozen backbone under a trained stage-2 kind (stage2.py): what trains, its loss, sampler,
    cosine lr, optional re-estimated batch-norm statistics and MaxNorm projection."""
    spec, loss = method.stage2, method.stage2_loss
    assert spec is not None and loss is not None and spec.trains
    classifier = model.classifier
    inner = classifier.inner if isinstance(classifier, ScaledClassifier) else classifier
    sampler_kwargs = dict(spec.sampler)
    sampler = SAMPLERS.build(sampler_kwargs.pop("name"), class_counts=counts, **sampler_kwargs)
    groups: list[dict[str, Any]] = []
    if spec.kind in ("crt", "mislas", "finetune"):
        groups.append({"params": list(inner.parameters()), "lr_factor": spec.classifier_lr_factor})
    if spec.scaled:
        groups.append({"params": [classifier.scales], "lr_factor": 1.0})

    def prepare() -> None:
        if spec.kind == "crt":
            for module in inner.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
        if spec.max_norm is not None:  # the stage-1 rows' norms set the radius (kept in checkpoints)
            model.max_norm_radius.copy_(max_norm_radius(inner.weight, spec.max_norm))

    def project() -> None:
        if spec.max_norm is not None:
            with torch.no_grad():
                inner.weight.copy_(max_norm_project(inner.weight, model.max_norm_radius))

    optimizer = dict(recipe["optimizer"])
    if spec.weight_decay is not None:
        optimizer["weight_decay"] = spec.weight_decay
    return Stage(
        name=spec.kind,
        epochs=spec.epochs,
        lr=lambda e: 0.5 * spec.lr * (1 + math.cos(math.pi * e / spec.epochs)),
        sampler=sampler,
        params=groups,
        forward=frozen_backbone(model, spec.shift_bn),
        mixing=False,
        loss=lambda logits, batch: mixed_loss(loss, logits, batch),
        optimizer=optimizer,
        prepare=prepare,
        end_epoch=project,
    )
