"""Per-ratio method overrides: a method's values for one (dataset, rho), when its authors tuned them so.

A dataset entry may hold, beside `method_overrides` (every ratio)::

    ratio_overrides:             # rho -> method -> changes, deep-merged last
      50: {mislas: {stage2: {loss: {head: 0.2}, classifier_lr_factor: 0.2}}}

A cell's method spec is the library entry, then the dataset's `method_overrides`, then the entry
for its ratio here (params.library.method_spec is where they are merged), so the cell's resolved recipe,
its key and its folder change with them. Checked before any job: each ratio is one of the
dataset's, each method is known, each merged spec validates, and `stage2.base` stays the same at
every ratio (a stage-2 cell's base cell is found without its ratio). Torch-free.
"""

from __future__ import annotations

from typing import Any

from ltgrid.errors import PartError
from ltgrid.params.library import KEY, as_rho, method_spec
from ltgrid.params.loading import format_rho


def ratio_override_errors(config: dict[str, Any], ds_name: str, skip: set[str] = frozenset()) -> list[str]:
    """Every problem of one dataset's ratio_overrides, each naming its key and value."""
    from ltgrid.methods.validation import validate_method

    ds = config["datasets"][ds_name]
    library = config["method_library"]
    ratios = [float(r) for r in ds["ratios"]]
    errors = []
    for key, methods in (ds.get(KEY) or {}).items():
        where = f"datasets.{ds_name}.{KEY}.{key}"
        rho = as_rho(key)
        if rho not in ratios:
            errors.append(f"{where}: {key!r} is not one of the dataset's ratios {[format_rho(r) for r in ratios]}")
            continue
        for method, changes in (methods or {}).items():
            if method not in library:
                errors.append(f"{where}.{method}: unknown method; defined: {sorted(library)}")
                continue
            if "base" in ((changes or {}).get("stage2") or {}):
                errors.append(f"{where}.{method}.stage2.base = {changes['stage2']['base']!r}: a stage-2 method's "
                              "base is the same at every ratio; set it in method_library or method_overrides")
                continue
            if method in skip:
                continue
            try:
                validate_method(method, method_spec(config, ds_name, method, rho))
            except PartError as exc:
                errors.append(f"{where}.{method}: {exc}")
    return errors
