"""Published figures (params/published.yaml): each number with the source it was read from.

The file is checked on load so that a typo in a dataset or method name, a number outside
0..100 or a source without a citation fails early with the entry named, instead of silently
showing a dash in the "published vs reproduced" table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from ltgrid.errors import ParamsError
from ltgrid.params.loading import format_rho

PROTOCOL_WORDS = {"final": "final epoch", "best_val": "best epoch on a validation split",
                  "best_test": "best epoch on the test set"}
# Metrics a published figure may give: percent values as in metrics.json.
PUBLISHED_METRICS = {"top1_err": "top-1 error (%)", "top1_acc": "top-1 accuracy (%)", "ece": "ECE (%)"}
SOURCE_KEYS = {"cite", "where", "selection", "protocol"}
# How a source picked its epoch, in the tables' terms (ltgrid.evaluate.protocols): which of our
# tables holds the reproduced figure it is comparable to. "unknown": the source does not say.
SOURCE_PROTOCOLS = ("final", "best_val", "best_test", "unknown")
FIGURE_KEYS = {"dataset", "rho", "method", "metric", "value", "source", "note"}


@dataclass(frozen=True)
class Source:
    """Where a number comes from: the work, the place in it, and how its authors picked the epoch."""

    key: str
    cite: str
    where: str
    selection: str
    protocol: str = "unknown"

    def text(self) -> str:
        return f"{self.cite}; {self.where}; model selection: {self.selection}"

    def comparable(self, protocol: str) -> str:
        """Whether a figure of this source is comparable to a reproduced figure under `protocol`,
        and if not, which table holds the one that is."""
        if self.protocol == "unknown":
            return "unknown (the source does not say how it picked the epoch)"
        if self.protocol == protocol:
            return "yes"
        return f"no: published is the {PROTOCOL_WORDS[self.protocol]}; compare with the {self.protocol} table"


@dataclass(frozen=True)
class Figure:
    dataset: str
    rho: str
    method: str
    metric: str
    value: float
    source: str


@dataclass(frozen=True)
class Published:
    sources: dict[str, Source]
    figures: tuple[Figure, ...]

    def lookup(self, dataset: str, rho: float | str, method: str, metric: str) -> Figure | None:
        """The published figure for a reproduced cell, or None (shown as a dash)."""
        key = (dataset, format_rho(float(rho)), method, metric)
        for fig in self.figures:
            if (fig.dataset, fig.rho, fig.method, fig.metric) == key:
                return fig
        return None

    def metrics(self) -> list[str]:
        return list(dict.fromkeys(f.metric for f in self.figures))


EMPTY = Published(sources={}, figures=())


def _need_str(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ParamsError(f"{where}: {key} = {value!r}: must be a non-empty string")
    return value.strip()


def _check_keys(where: str, raw: Any, allowed: set[str], expected: set[str]) -> None:
    """`raw` is a mapping (of the `expected` keys) with no key outside `allowed`."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{where} = {raw!r}: must be a mapping with {sorted(expected)}")
    unknown = set(raw) - allowed
    if unknown:
        raise ParamsError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _source(key: str, raw: Any, path: Path) -> Source:
    where = f"{path}: sources.{key}"
    _check_keys(where, raw, SOURCE_KEYS, SOURCE_KEYS - {"protocol"})
    protocol = raw.get("protocol", "unknown")
    if protocol not in SOURCE_PROTOCOLS:
        raise ParamsError(f"{where}: protocol = {protocol!r}: must be one of {', '.join(SOURCE_PROTOCOLS)}")
    return Source(key, *(_need_str(where, k, raw.get(k)) for k in ("cite", "where", "selection")), protocol)


def _figure(i: int, raw: Any, sources: dict[str, Source], methods: set[str] | None, path: Path) -> Figure:
    where = f"{path}: figures[{i}]"
    _check_keys(where, raw, FIGURE_KEYS, FIGURE_KEYS - {"note"})
    dataset = _need_str(where, "dataset", raw.get("dataset"))
    method = _need_str(where, "method", raw.get("method"))
    if methods is not None and method not in methods:
        raise ParamsError(f"{where}: method = {method!r} is not in the method library; known: {sorted(methods)}")
    rho = raw.get("rho")
    if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not rho >= 1:
        raise ParamsError(f"{where}: rho = {rho!r}: must be a number >= 1 (the imbalance ratio)")
    metric = raw.get("metric", "top1_err")
    if metric not in PUBLISHED_METRICS:
        raise ParamsError(f"{where}: metric = {metric!r}: must be one of {sorted(PUBLISHED_METRICS)}")
    value = raw.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 100:
        raise ParamsError(f"{where}: value = {value!r}: must be a percentage between 0 and 100")
    source = raw.get("source")
    if source not in sources:
        raise ParamsError(f"{where}: source = {source!r} is not defined under `sources`; defined: {sorted(sources)}")
    note = raw.get("note", "")  # prose for the reader of published.yaml, like a comment
    if not isinstance(note, str):
        raise ParamsError(f"{where}: note = {note!r}: must be a string")
    return Figure(dataset, format_rho(float(rho)), method, metric, float(value), source)


def parse(data: Any, path: str | Path = "published.yaml", methods: Iterable[str] | None = None) -> Published:
    """Check and convert the YAML contents; `methods` (the method library's names) catches typos."""
    path = Path(path)
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: must hold a mapping with `sources` and `figures`, got {type(data).__name__}")
    unknown = set(data) - {"sources", "figures"}
    if unknown:
        raise ParamsError(f"{path}: unknown top-level key(s) {sorted(unknown)}; allowed: ['figures', 'sources']")
    raw_sources = data.get("sources") or {}
    if not isinstance(raw_sources, dict):
        raise ParamsError(f"{path}: sources = {raw_sources!r}: must be a mapping of source keys")
    sources = {str(k): _source(str(k), v, path) for k, v in raw_sources.items()}
    raw_figures = data.get("figures") or []
    if not isinstance(raw_figures, list):
        raise ParamsError(f"{path}: figures = {raw_figures!r}: must be a list")
    known = set(methods) if methods is not None else None
    figures = tuple(_figure(i, raw, sources, known, path) for i, raw in enumerate(raw_figures))
    seen: dict[tuple[str, str, str, str], int] = {}
    for i, fig in enumerate(figures):
        key = (fig.dataset, fig.rho, fig.method, fig.metric)
        if key in seen:
            raise ParamsError(f"{path}: figures[{i}] repeats figures[{seen[key]}] ({'/'.join(key)}); keep one")
        seen[key] = i
    return Published(sources, figures)


def load(path: str | Path, methods: Iterable[str] | None = None) -> Published:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"published figures file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"published figures file {path} is not valid YAML: {exc}") from None
    return parse(data, path, methods)
