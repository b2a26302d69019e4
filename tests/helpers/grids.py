"""Params checks shared by the params-level tests: the embedded grid, and what validating refuses."""

from __future__ import annotations

from typing import Any

import pytest

from ltgrid import params


def default_grid(methods: list[str]) -> dict[str, Any]:
    """params/default.yaml with its includes (run from the project root), running `methods`."""
    grid = params.resolve_includes(params.load_yaml("params/default.yaml"))
    grid["methods"] = methods
    return grid


def refused(config: dict[str, Any]) -> str:
    """The message of the ParamsError validating `config` raises (it must raise one)."""
    with pytest.raises(params.ParamsError) as err:
        params.validate(config, params.DEFAULT_SCHEMA)
    return str(err.value)
