"""The models params may name, without torch: one table, name -> where its builder lives (imported
when a model is built), what its forward returns, and how many experts it has. zoo.py registers
exactly these; a loss that reads more than one (N, C) logit per image declares which outputs it
needs (methods/catalog.py LOSS_NEEDS_OUTPUTS), so a method pairing a loss with a model it cannot
read is refused when params load, before any job. Every builder takes (num_classes, in_channels,
normed_classifier); tests/unit/test_resnet.py checks each against this table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelEntry:
    builder: str  # "module:function"
    # what forward returns: "logits" (N, C); "experts" (N, K, C) with K = experts;
    # "glmc" (N, 2C + 2h): the two classifiers' logits, the projection and the prediction
    outputs: str = "logits"
    experts: int | None = None


MODEL_TABLE: dict[str, ModelEntry] = {
    "digits_cnn": ModelEntry("ltgrid.models.small:DigitsCNN"),
    "resnet20": ModelEntry("ltgrid.models.resnet_cifar:resnet20"),
    "resnet32": ModelEntry("ltgrid.models.resnet_cifar:resnet32"),
    "resnet44": ModelEntry("ltgrid.models.resnet_cifar:resnet44"),
    "resnet56": ModelEntry("ltgrid.models.resnet_cifar:resnet56"),
    "resnet10": ModelEntry("ltgrid.models.resnet:resnet10"),
    "resnet50": ModelEntry("ltgrid.models.resnet:resnet50"),
    "resnet34_cifar": ModelEntry("ltgrid.models.resnet:resnet34_cifar"),
    "resnet32_experts": ModelEntry("ltgrid.models.multi_expert:resnet32_experts", "experts", 3),
    "resnet32_glmc": ModelEntry("ltgrid.models.resnet_glmc:resnet32_glmc", "glmc"),
    "digits_cnn_glmc": ModelEntry("ltgrid.models.resnet_glmc:digits_cnn_glmc", "glmc"),
}
MODEL_NAMES = tuple(MODEL_TABLE)
MODEL_OUTPUTS = {name: entry.outputs for name, entry in MODEL_TABLE.items()}
EXPERTS = {name: entry.experts for name, entry in MODEL_TABLE.items() if entry.experts is not None}
