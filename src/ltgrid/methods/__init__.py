"""Methods: losses, mixing rules, samplers, schedules and a decoupled stage 2, composed by name from params.

catalog.py, spec.py and validation.py declare and check every part's arguments without torch; the parts
themselves load (with torch) on first use of an attribute below, so checking params never
imports torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "Loss": "base", "MixedBatch": "base", "Mixing": "base", "Sampler": "base", "mixed_loss": "base",
    "Method": "compose", "build_method": "compose", "Schedule": "schedule", "validate_method": "validation",
    "LOSSES": "losses", "MIXINGS": "mixing", "SAMPLERS": "samplers", "Stage2Spec": "stage2", "tau_normalize": "stage2",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"ltgrid.methods.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'ltgrid.methods' has no attribute {name!r}")
