"""Checking a part's params against its factory's signature without building it."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable


def argument_problem(
    factory: Callable[..., Any],
    kwargs: dict[str, Any],
    supplied: Iterable[str] = ("class_counts",),
    extra: Iterable[str] = (),
) -> str | None:
    """Why `factory(**supplied, **kwargs)` would not bind, or None when it would.

    `supplied` are arguments the builder passes itself; `extra` are names consumed
    before the factory is called (e.g. the options every loss shares).
    """
    params = inspect.signature(factory).parameters
    supplied, extra = set(supplied), set(extra)
    open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = {
        k for k, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    accepted = (named | extra) - supplied
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown and not open_kwargs:
        return f"unknown argument(s) {', '.join(map(repr, unknown))}; accepts: {', '.join(sorted(accepted)) or 'none'}"
    clash = sorted(k for k in kwargs if k in supplied)
    if clash:
        return f"argument(s) {', '.join(map(repr, clash))} are set by the pipeline, not params"
    missing = sorted(
        k for k, p in params.items()
        if k in named and k not in supplied and k not in kwargs and p.default is inspect.Parameter.empty
    )
    if missing:
        return f"missing argument(s) {', '.join(map(repr, missing))}"
    return None
