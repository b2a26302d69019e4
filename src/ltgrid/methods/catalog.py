"""Every method part's arguments, their defaults and what a good value is, without torch.

The one place a part's arguments are declared (with the rules of methods/rules.py): params are checked against it when a grid is
loaded (so `snakemake -n` never imports torch), and the part registries fill its defaults and
check values when they build a part. Each built-in part's declaration also names its factory
("module:attr", imported when the part is first built); tests/unit/test_catalog.py checks every
factory takes exactly the declared arguments. The constructor then checks only what needs the
data (e.g. a test prior's length against the class count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from ltgrid.errors import ArgumentsError, PartError
from ltgrid.methods.rules import (REQUIRED, Arg, Boolean, Declaration, Integer, MethodName, Number, Numbers, OneOf,
                                  OptionalInteger, PartEntry, PositiveNumbers, TauRange, fill, from_signature)
from ltgrid.registry import Registry

T = TypeVar("T")


@dataclass(frozen=True)
class SamplerPart:
    """A nested sampler part ({name, ...}), as stage 2 takes."""

    def problem(self, label: str, value: Any) -> str | None:
        if not isinstance(value, dict) or "name" not in value:
            return f"{label} must be a mapping with a 'name', got {value!r}"
        name = value["name"]
        if name not in PARTS["sampler"]:
            return f"{label}.name {name!r} is not a known sampler; known: {', '.join(sorted(PARTS['sampler']))}"
        try:
            resolve("sampler", name, {k: v for k, v in value.items() if k != "name"})
        except (PartError, ArgumentsError) as exc:
            return f"{label} {name!r}: {exc}"
        return None


def _drw_needs_weighting(args: dict[str, Any]) -> str | None:
    if args["drw_epoch"] > 0 and args["weighting"] == "none":
        return f"drw_epoch={args['drw_epoch']} defers a weighting, but weighting is 'none'"
    return None


ALPHA = Number(gt=0)
# How many draws make a class_cycle epoch (samplers/class_cycle.py): N, the training images; or
# whole batches of `batch`, floor(N / batch) (Kang et al.'s loop) or ceil(N / batch) + 1 (MiSLAS's)
CYCLE_EPOCHS = ("images", "floor_batches", "ceil_batches_plus_one")


def _cycle_epoch_needs_batch(args: dict[str, Any]) -> str | None:
    if args["epoch"] == "images" and args["batch"] is not None:
        return f"class_cycle batch={args['batch']} counts an epoch in batches, but epoch is 'images'"
    if args["epoch"] != "images" and args["batch"] is None:
        return f"class_cycle epoch {args['epoch']!r} counts batches: give batch (the authors' loader batch)"
    return None

# Options every loss takes on top of its own arguments (re-weighting, DRW, post-hoc tau).
LOSS_OPTIONS = Declaration({
    "weighting": Arg("none", OneOf(("none", "class_balanced"))),
    "beta": Arg(0.9999, Number(ge=0, le=1)),
    "drw_epoch": Arg(0, Integer(ge=0)),
    "posthoc_tau": Arg(0.0, Number()),
    # mean: sum_i w_i l_i / N (Cui et al.'s class-balanced losses); weighted_mean: sum_i w_i l_i / sum_i w_i
    # (PyTorch's cross_entropy(weight=w), what the LDAM-DRW code reduces with)
    "reduction": Arg("mean", OneOf(("mean", "weighted_mean"))),
}, relation=_drw_needs_weighting)

# where each built-in part lives: its factory is imported when the part is first built
_LOSS, _MIX, _SAMPLER = "ltgrid.methods.losses.", "ltgrid.methods.mixing.", "ltgrid.methods.samplers."
PARTS: dict[str, dict[str, Declaration]] = {
    "loss": {
        "ce": Declaration(factory=_LOSS + "ce:CrossEntropy"),
        # weight_in_modulator: (1 - p_y^{w_y})^gamma, the LDAM-DRW code's FocalLoss(weight=w)
        "focal": Declaration(
            {"gamma": Arg(1.0, Number(ge=0)), "weight_in_modulator": Arg(False, Boolean())}, "focal ",
            factory=_LOSS + "ce:Focal",
        ),
        # Cui et al.'s one-vs-rest sigmoid focal loss (their classifier bias prior comes with it)
        "sigmoid_focal": Declaration(
            {"gamma": Arg(1.0, Number(ge=0))}, "sigmoid_focal ", factory=_LOSS + "sigmoid:SigmoidFocal"
        ),
        "ldam": Declaration(
            {"max_margin": Arg(0.5, Number(ge=0)), "s": Arg(30.0, Number(gt=0))}, "ldam ", factory=_LOSS + "ldam:LDAM"
        ),
        "la": Declaration({"tau": Arg(1.0, Number())}, "la ", factory=_LOSS + "prior:LogitAdjusted"),
        "balanced_softmax": Declaration(factory=_LOSS + "prior:BalancedSoftmax"),
        "bayias": Declaration({"test_prior": Arg(None, PositiveNumbers())}, "bayias ", factory=_LOSS + "prior:Bayias"),
        # BalPoE (emasa/BalPoE-CalibratedLT model/loss.py BSExpertLoss): expert k's CE on s z_k + (1 - lambda_k) log pi,
        # averaged over experts; lambdas [1, 0, -1] are their configs' tau_list [0, 1, 2] (tau_k = 1 - lambda_k)
        "balpoe": Declaration({
            "lambdas": Arg([1.0, 0.0, -1.0], Numbers()), "s": Arg(30.0, Number(gt=0)),
            "test_prior": Arg(None, PositiveNumbers()),
        }, "balpoe ", factory=_LOSS + "balpoe:BalancedPoE"),
        "las": Declaration({
            "head": Arg(0.3, Number(ge=0, lt=1)), "tail": Arg(0.0, Number(ge=0, lt=1)),
            "shape": Arg("concave", OneOf(("concave", "linear", "convex"))),
        }, "las ", factory=_LOSS + "smoothing:LabelAwareSmoothing"),
        # GLMC (ynu-yangpeng/GLMC Trainer.py; defaults: main.py's, the CIFAR commands set their own): the re-balanced
        # branch's label weights n_c^-label_weighting (scaled to sum to C), the consistency term's weight
        "glmc": Declaration({
            "label_weighting": Arg(1.0, Number(ge=0)), "contrast_weight": Arg(10.0, Number(ge=0)),
        }, "glmc ", factory=_LOSS + "glmc:GlmcLoss"),
    },
    "mixing": {
        "none": Declaration(factory="ltgrid.methods.base:Mixing"),
        # per: one factor per batch (Zhang et al.'s and MiSLAS's mixup_data) or one per sample
        "mixup": Declaration(
            {"alpha": Arg(1.0, ALPHA), "per": Arg("batch", OneOf(("batch", "sample")))}, "mixup ",
            factory=_MIX + "mixup:Mixup",
        ),
        "remix": Declaration(
            {"alpha": Arg(1.0, ALPHA), "kappa": Arg(3.0, Number(ge=1)), "tau": Arg(0.5, Number(ge=0, le=1))}, "remix ",
            factory=_MIX + "remix:Remix",
        ),
        "unimix": Declaration(
            {"alpha": Arg(0.8, ALPHA), "tau": Arg(-0.5, Number()), "mode": Arg("wrap", OneOf(("wrap", "clip")))},
            "unimix ", factory=_MIX + "unimix:UniMix",
        ),
        # GLMC: lam ~ Beta(alpha, alpha) once per batch (utils/util.py GLMC_mixed's alpha = 1; main.py's --beta is
        # drawn but unused); partners drawn with P(i) prop. n_{y_i}^-resample_weighting (main.py's weighted loader)
        "glmc": Declaration(
            {"alpha": Arg(1.0, ALPHA), "resample_weighting": Arg(0.2, Number(ge=0))}, "glmc ",
            factory=_MIX + "glmc:GlmcMixing",
        ),
    },
    "sampler": {
        "instance": Declaration(factory=_SAMPLER + "instance:InstanceBalanced"),
        "class_balanced": Declaration(factory=_SAMPLER + "class_aware:ClassBalanced"),
        "square_root": Declaration(factory=_SAMPLER + "class_aware:SquareRoot"),
        "progressive": Declaration(factory=_SAMPLER + "class_aware:ProgressivelyBalanced"),
        "class_cycle": Declaration({
            "per_visit": Arg(1, Integer(ge=1)),
            "epoch": Arg("images", OneOf(CYCLE_EPOCHS)),
            "batch": Arg(None, OptionalInteger(ge=1)),
        }, "class_cycle ", relation=_cycle_epoch_needs_batch, factory=_SAMPLER + "class_cycle:ClassCycle"),
    },
}
SCHEDULE = Declaration({"mix_off_last": Arg(0, Integer(ge=0))})
# Losses that score only the batches of one mixing rule, mixed every epoch: GLMC's loss reads the two
# mixed halves (and their views' pairing) that the glmc rule lays out.
LOSS_NEEDS_MIXING = {"glmc": "glmc"}
# Losses that read a model's outputs other than one (N, C) logit (models/names.py MODEL_OUTPUTS);
# every other loss needs "logits".
LOSS_NEEDS_OUTPUTS = {"balpoe": "experts", "glmc": "glmc"}


def model_problem(parts: dict[str, Any], model: str, outputs: str, experts: int | None) -> str | None:
    """Why a method's filled parts cannot train `model` (whose forward returns `outputs`), or None."""
    loss = parts["loss"]["name"]
    needed = LOSS_NEEDS_OUTPUTS.get(loss, "logits")
    if outputs != needed:
        what = {"logits": "one (N, C) logit per image", "experts": "every expert's logits (N, K, C)",
                "glmc": "GLMC's two classifiers and projection heads"}
        fix = {"logits": "a one-output model (the dataset's)", "experts": "model: resnet32_experts",
               "glmc": "model: resnet32_glmc (digits_cnn_glmc on digits)"}
        return f"loss {loss!r} reads {what[needed]}, but model {model!r} returns {what[outputs]}; use {fix[needed]}"
    if outputs == "experts" and len(parts["loss"].get("lambdas") or ()) != experts:
        return f"loss {loss!r} has {len(parts['loss'].get('lambdas') or ())} lambdas, but model {model!r} has {experts} experts"
    if outputs != "logits" and parts["stage2"] is not None:
        return f"model {model!r} has no single (N, C) classifier for a decoupled stage 2 to retrain"
    return None


def pairing_problem(parts: dict[str, Any]) -> str | None:
    """Why a method's filled parts (methods/spec.py method_parts) do not fit together, or None."""
    loss, needed = parts["loss"]["name"], LOSS_NEEDS_MIXING.get(parts["loss"]["name"])
    if needed is None:
        return None
    if parts["mixing"]["name"] != needed:
        return f"loss {loss!r} needs mixing {{name: {needed}}}, got mixing {parts['mixing']['name']!r}"
    if parts["schedule"]["mix_off_last"]:
        return f"loss {loss!r} scores mixed batches only: schedule.mix_off_last must be 0, got {parts['schedule']['mix_off_last']}"
    return None

# What a method may change in its recipe's optimiser for stage 1 (None: the recipe's value).
METHOD_OPTIMIZER = Declaration({
    "lr": Arg(None, Number(gt=0, optional=True)),
    "weight_decay": Arg(None, Number(ge=0, optional=True)),
    "momentum": Arg(None, Number(ge=0, optional=True)),
}, "optimizer.")
STAGE2_KINDS = ("crt", "tau_norm", "lws", "mislas", "finetune")
TRAINED_KINDS = ("crt", "lws", "mislas", "finetune")


def _max_norm_needs_training(args: dict[str, Any]) -> str | None:
    if args["max_norm"] is not None and args["kind"] not in ("crt", "mislas", "finetune"):
        return f"stage2.max_norm constrains a trained classifier; kind {args['kind']!r} trains none"
    return None


STAGE2 = Declaration({
    "kind": Arg(REQUIRED, OneOf(STAGE2_KINDS)),
    "base": Arg(None, MethodName()),
    "sampler": Arg({"name": "class_balanced"}, SamplerPart()),
    "loss": Arg({"name": "ce"}, PartEntry()),
    "epochs": Arg(10, Integer(ge=1)),
    "lr": Arg(0.1, Number(gt=0)),
    "tau": Arg(1.0, Number(ge=0)),
    "classifier_lr_factor": Arg(1.0, Number(gt=0)),
    "weight_decay": Arg(None, Number(ge=0, optional=True)),
    "max_norm": Arg(None, Number(ge=0, optional=True)),
    "shift_bn": Arg(False, Boolean()),
    "tau_range": Arg([0.0, 2.0, 0.1], TauRange()),
}, "stage2.", relation=_max_norm_needs_training)


def declaration(family: str, name: str) -> Declaration:
    try:
        return PARTS[family][name]
    except KeyError:
        known = ", ".join(sorted(PARTS.get(family, {})))
        raise PartError(f"{family}.name = {name!r} is not a known {family}; known: {known}") from None


def resolve(family: str, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A part's own arguments, defaults filled and checked (loss options are not included)."""
    return fill(declaration(family, name), kwargs, f"{family} {name!r}")


def split_loss_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the shared loss options, filled and checked; the loss's own arguments)."""
    options = {k: v for k, v in kwargs.items() if k in LOSS_OPTIONS.args}
    own = {k: v for k, v in kwargs.items() if k not in LOSS_OPTIONS.args}
    return fill(LOSS_OPTIONS, options, "loss options"), own


class PartRegistry(Registry[T]):
    """A registry of one part family whose built-ins are this module's table (each factory imported
    when first asked for; tests/unit/test_catalog.py checks each takes exactly its declared
    arguments); a plugin's part registers with the decorator and is declared by its own
    signature. Building fills and checks the arguments."""

    def __init__(self, family: str) -> None:
        super().__init__(family, {name: d.factory for name, d in PARTS[family].items() if d.factory is not None})
        self.family = family

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if factory.__module__.startswith("ltgrid."):
                raise ValueError(f"{self.family} {name!r}: a built-in part is declared, with its factory, in PARTS of {__name__}")
            registered = Registry.register(self, name)(factory)
            PARTS[self.family].setdefault(name, from_signature(factory, name))
            return registered

        return deco

    def build(self, name: str, **kwargs: Any) -> T:
        factory = self.get(name)
        counts = kwargs.pop("class_counts")
        return factory(class_counts=counts, **resolve(self.family, name, kwargs))
