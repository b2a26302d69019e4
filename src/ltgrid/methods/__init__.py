"""Methods: losses, mixing rules, samplers, schedules and a decoupled stage 2, composed by name from params."""

from ltgrid.methods.base import Loss, MixedBatch, Mixing, Sampler, mixed_loss
from ltgrid.methods.compose import Method, Schedule, build_method, validate_method
from ltgrid.methods.losses import LOSSES
from ltgrid.methods.mixing import MIXINGS
from ltgrid.methods.samplers import SAMPLERS
from ltgrid.methods.stage2 import Stage2Spec, tau_normalize

__all__ = [
    "LOSSES",
    "MIXINGS",
    "SAMPLERS",
    "Loss",
    "Method",
    "MixedBatch",
    "Mixing",
    "Sampler",
    "Schedule",
    "Stage2Spec",
    "build_method",
    "mixed_loss",
    "tau_normalize",
    "validate_method",
]
