"""What a cell trains with, assembled once from its resolved spec: the device, the split and its
feed, the method's parts, the model (loaded from a base cell for a stage 2 on a shared stage 1),
the stages and a post-hoc step, and the one generator every draw of the cell comes from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from ltgrid.cell_spec import CellSpec
from ltgrid.data.feeds import build_feed
from ltgrid.data.splits import read_split
from ltgrid.methods.compose import Method, assemble_method, loss_needs_normed_classifier
from ltgrid.methods.head import init_classifier_bias, undecayed
from ltgrid.models import build_model
from ltgrid.train.accel import channels_last, fast_forward
from ltgrid.train.loop import Stage
from ltgrid.train.predict import eval_batch, val_scorer
from ltgrid.train.stages import PostHoc, prepare_classifier, stage_one, stage_two, tau_norm_step


def pick_device() -> torch.device:
    """CUDA when present (the GPU lease has already narrowed CUDA_VISIBLE_DEVICES), else CPU."""
    return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")


@dataclass
class CellParts:
    device: torch.device
    split: dict[str, Any]
    feed: Any
    method: Method
    model: nn.Module
    forward: Callable[[Tensor], Tensor]  # the model through accel (bf16 / compile), or the model itself
    stages: list[Stage]
    posthoc: PostHoc | None  # run once after the stages (tau-norm)
    generator: torch.Generator  # every draw of the cell (sampler, augmentation, mixing)


def build_parts(spec: CellSpec, data_path: str | Path, split_path: str | Path,
                stage1_model: str | Path | None) -> CellParts:
    """Feed, method, model and stages of a cell; a stage-2 cell on a shared stage 1 loads its model."""
    recipe = spec.recipe
    device = pick_device()
    split = read_split(split_path, data_path)
    nhwc = channels_last(recipe, device)
    feed = build_feed(str(data_path), split, device, recipe, nhwc, spec.normalize)
    counts = torch.tensor(split["counts"], dtype=torch.float64)
    method = assemble_method(spec.method, spec.method_spec, counts).to(device)
    base_spec = spec.base_method_spec
    normed = loss_needs_normed_classifier(base_spec) if base_spec else method.needs_normed_classifier
    model = build_model(spec.model, feed.num_classes, feed.in_channels, normed_classifier=normed).to(device)
    init_classifier_bias(model, method.loss)  # the loss's prior bias (Cui et al.'s sigmoid focal), before any load
    if nhwc:
        model = model.to(memory_format=torch.channels_last)
    forward = fast_forward(model, recipe, device)
    if stage1_model is not None:
        model.load_state_dict(torch.load(stage1_model, map_location=device, weights_only=True))
    frozen = prepare_classifier(model, method)
    stages = [] if stage1_model is not None else [stage_one(forward, method, recipe, frozen, undecayed(model, method.loss))]
    posthoc = None
    if method.stage2 is not None and method.stage2.trains:
        stages.append(stage_two(model, method, counts, recipe))
    elif method.stage2 is not None:
        posthoc = tau_norm_step(model, method, val_scorer(forward, feed, method, eval_batch(recipe["batch_size"])))
    generator = torch.Generator().manual_seed(spec.seed)
    return CellParts(device, split, feed, method, model, forward, stages, posthoc, generator)
