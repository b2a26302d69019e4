"""Models: params name one (names.py, torch-free); zoo.py holds the registry and the builders.

Attributes load zoo.py (and torch) on first use, so checking params never imports torch.
"""

from __future__ import annotations

from typing import Any

_ZOO = ("MODELS", "Classifier", "NormedLinear", "ResNetCifar", "TorchvisionResNet", "build_model", "count_parameters")
__all__ = list(_ZOO)


def __getattr__(name: str) -> Any:
    if name in _ZOO:
        from ltgrid.models import zoo

        return getattr(zoo, name)
    raise AttributeError(f"module 'ltgrid.models' has no attribute {name!r}")
