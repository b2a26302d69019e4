"""Name -> factory registries, so params pick parts by name and no trainer needs if/elif chains."""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, Generic, Iterable, Mapping, TypeVar

from ltgrid.errors import ArgumentsError

T = TypeVar("T")


def argument_problem(
    factory: Callable[..., Any],
    kwargs: Iterable[str],
    supplied: Iterable[str] = (),
    extra: Iterable[str] = (),
) -> str | None:
    """Why `factory(**supplied, **kwargs)` would not bind, or None when it would.

    `supplied` are arguments the builder passes itself; `extra` are names consumed
    before the factory is called (e.g. the options every loss shares).
    """
    params = inspect.signature(factory).parameters
    kwargs, supplied, extra = set(kwargs), set(supplied), set(extra)
    open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = {
        k for k, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    accepted = (named | extra) - supplied
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown and not open_kwargs:
        return f"unknown argument(s) {', '.join(map(repr, unknown))}; accepts: {', '.join(sorted(accepted)) or 'none'}"
    clash = sorted(kwargs & supplied)
    if clash:
        return f"argument(s) {', '.join(map(repr, clash))} are set by the pipeline, not params"
    missing = sorted(
        k for k, p in params.items()
        if k in named and k not in supplied and k not in kwargs and p.default is inspect.Parameter.empty
    )
    if missing:
        return f"missing argument(s) {', '.join(map(repr, missing))}"
    return None


def load(path: str) -> Callable[..., Any]:
    """"module:attr" -> the attribute, importing its module."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


class Registry(Generic[T]):
    """A named table of factories; `build(name, **kw)` fails with the known names listed.

    Built-ins come from a torch-free table, name -> "module:attr", and are imported when first
    asked for; a plugin's parts join with the `register` decorator."""

    def __init__(self, kind: str, builtins: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._builtins = dict(builtins or {})
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._builtins:
                raise ValueError(f"{self.kind} {name!r} is a built-in ({self._builtins[name]}); name yours otherwise")
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._factories[name] = factory
            return factory

        return deco

    def is_builtin(self, name: str) -> bool:
        return name in self._builtins

    def names(self) -> list[str]:
        return sorted(set(self._factories) | set(self._builtins))

    def __contains__(self, name: object) -> bool:
        return name in self._factories or name in self._builtins

    def get(self, name: str) -> Callable[..., T]:
        if name not in self._factories and name in self._builtins:
            self._factories[name] = load(self._builtins[name])
        try:
            return self._factories[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}") from None

    def build(self, name: str, **kwargs: Any) -> T:
        """The part, after checking its arguments bind: a TypeError raised inside the factory
        is a bug there and keeps its traceback."""
        factory = self.get(name)
        problem = argument_problem(factory, kwargs)
        if problem:
            raise ArgumentsError(f"{self.kind} {name!r}: {problem}")
        return factory(**kwargs)
