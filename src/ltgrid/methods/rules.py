"""What a good argument value is, and a part's declared arguments: the checks params run on every
method part without torch (methods/catalog.py declares each part with them)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ltgrid.errors import ArgumentsError, PartError


class Rule(Protocol):
    """A check of one argument's value: None when good, else the problem, naming `label`."""

    def problem(self, label: str, value: Any) -> str | None: ...


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Number:
    """A real number, optionally bounded: gt / ge below, le above."""

    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    lt: float | None = None
    optional: bool = False  # None stands for "not set" (the recipe's value, no constraint)

    def describe(self) -> str:
        if self.ge is not None and self.le is not None:
            return f"a number in [{self.ge:g}, {self.le:g}]"
        if self.ge is not None and self.lt is not None:
            return f"a number in [{self.ge:g}, {self.lt:g})"
        if self.gt is not None:
            return f"a number > {self.gt:g}"
        if self.ge is not None:
            return f"a number >= {self.ge:g}"
        return "a number"

    def problem(self, label: str, value: Any) -> str | None:
        if value is None and self.optional:
            return None
        ok = _is_number(value) and not (
            (self.gt is not None and value <= self.gt) or (self.ge is not None and value < self.ge)
            or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt)
        )
        return None if ok else f"{label} must be {self.describe()}, got {value!r}"


@dataclass(frozen=True)
class Integer:
    ge: int

    def problem(self, label: str, value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= self.ge
        return None if ok else f"{label} must be an integer >= {self.ge}, got {value!r}"


@dataclass(frozen=True)
class OptionalInteger:
    """None, or an integer >= ge."""

    ge: int

    def problem(self, label: str, value: Any) -> str | None:
        return None if value is None else Integer(self.ge).problem(label, value)


@dataclass(frozen=True)
class OneOf:
    choices: tuple[str, ...]

    def problem(self, label: str, value: Any) -> str | None:
        return None if value in self.choices else f"{label} {value!r} is not one of {', '.join(self.choices)}"


@dataclass(frozen=True)
class Boolean:
    def problem(self, label: str, value: Any) -> str | None:
        return None if isinstance(value, bool) else f"{label} must be true or false, got {value!r}"


@dataclass(frozen=True)
class PartEntry:
    """A nested part entry ({name, ...}) checked in full by methods/spec.py (stage 2's loss)."""

    def problem(self, label: str, value: Any) -> str | None:
        ok = isinstance(value, dict) and "name" in value
        return None if ok else f"{label} must be a mapping with a 'name', got {value!r}"


@dataclass(frozen=True)
class PositiveNumbers:
    """None, or a list of positive numbers (its length is checked against the classes when built)."""

    def problem(self, label: str, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, (list, tuple)) and len(value) >= 2 and all(_is_number(v) and v > 0 for v in value):
            return None
        size = len(value) if isinstance(value, (list, tuple)) else "a list of"
        return f"{label} must be {size} positive numbers, got {value}"


@dataclass(frozen=True)
class Numbers:
    """A list of at least `min_len` real numbers (BalPoE's lambdas, one per expert)."""

    min_len: int = 1

    def problem(self, label: str, value: Any) -> str | None:
        if isinstance(value, (list, tuple)) and len(value) >= self.min_len and all(_is_number(v) for v in value):
            return None
        return f"{label} must be a list of at least {self.min_len} numbers, got {value!r}"


@dataclass(frozen=True)
class MethodName:
    def problem(self, label: str, value: Any) -> str | None:
        ok = value is None or (isinstance(value, str) and bool(value))
        return None if ok else f"{label} must be a method name, got {value!r}"


@dataclass(frozen=True)
class TauRange:
    """None, or [start >= 0, stop >= start, step > 0]: the taus tau-norm tries on the val split."""

    def problem(self, label: str, value: Any) -> str | None:
        if value is None:
            return None
        ok = isinstance(value, (list, tuple)) and len(value) == 3 and all(_is_number(v) for v in value)
        if ok and value[0] >= 0 and value[2] > 0 and value[1] >= value[0]:
            return None
        return f"{label} must be [start >= 0, stop >= start, step > 0], got {value!r}"


@dataclass(frozen=True)
class Unchecked:
    """A plugin part's argument: declared by its signature, its value checked by the part when built."""

    def problem(self, label: str, value: Any) -> str | None:
        return None


REQUIRED = object()  # default of an argument params must give


@dataclass(frozen=True)
class Arg:
    default: Any
    rule: Rule


@dataclass(frozen=True)
class Declaration:
    """A part's arguments; `prefix` starts its messages ("unimix " -> "unimix alpha must be ...");
    `relation` checks arguments against each other, on the filled values."""

    args: dict[str, Arg] = field(default_factory=dict)
    prefix: str = ""
    relation: Callable[[dict[str, Any]], str | None] | None = None
    checked: bool = True  # False: a plugin's part, declared by its signature (values checked by building it)
    factory: str | None = None  # a built-in part's "module:attr", imported when it is first built


def from_signature(factory: Callable[..., Any], name: str) -> Declaration:
    """A plugin part's declaration: its keyword arguments (besides class_counts) and their defaults."""
    args = {
        k: Arg(REQUIRED if p.default is inspect.Parameter.empty else p.default, Unchecked())
        for k, p in inspect.signature(factory).parameters.items()
        if k != "class_counts" and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return Declaration(args, f"{name} ", checked=False)


def fill(decl: Declaration, kwargs: dict[str, Any], what: str) -> dict[str, Any]:
    """kwargs with the declaration's defaults filled in, each value checked; raises naming the
    first bad argument (ArgumentsError for unknown or missing names, PartError for values)."""
    unknown = sorted(set(kwargs) - set(decl.args))
    if unknown:
        accepts = ", ".join(sorted(decl.args)) or "none"
        raise ArgumentsError(f"{what}: unknown argument(s) {', '.join(map(repr, unknown))}; accepts: {accepts}")
    missing = sorted(k for k, a in decl.args.items() if a.default is REQUIRED and k not in kwargs)
    if missing:
        raise ArgumentsError(f"{what} needs {', '.join(map(repr, missing))}")
    filled = {k: kwargs.get(k, a.default) for k, a in decl.args.items()}
    for key, arg in decl.args.items():
        problem = arg.rule.problem(f"{decl.prefix}{key}", filled[key])
        if problem:
            raise PartError(problem)
    problem = decl.relation(filled) if decl.relation else None
    if problem:
        raise PartError(problem)
    return filled
