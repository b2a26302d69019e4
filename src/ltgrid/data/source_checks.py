"""A dataset's `source` params checked at validate time, before any job runs.

Without these, a source missing its checksum (or with a misspelt argument) passed
`ltgrid validate` and failed only inside the prepare job, after the tracking store had
been set up for a grid that could never run.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterable

from ltgrid.data.source_table import SOURCE_TABLE
from ltgrid.data.sources import _expected_digests
from ltgrid.registry import argument_problem


def source_problems(source: dict[str, Any], where: str) -> list[str]:
    """One message per problem in a `source` block (arguments its builder takes, checksums)."""
    from ltgrid.data import SOURCES

    spec = {k: v for k, v in source.items() if k != "kind"}
    kind = source.get("kind")
    if kind not in SOURCES:
        return []  # reported with the known kinds by the params check
    problem = argument_problem(SOURCES.get(kind), spec, supplied=("work_dir",))
    if problem:
        return [f"{where} (kind {kind!r}): {problem}"]
    given = {k: spec.get(k) for k in ("md5", "sha256")}
    needs_checksum = kind in SOURCE_TABLE and SOURCE_TABLE[kind].needs_checksum
    if not needs_checksum and not any(v is not None for v in given.values()):
        return []
    try:
        _expected_digests(given["md5"], given["sha256"])
    except ValueError as exc:
        return [f"{where}: {exc} (source kind {kind!r})"]
    return []


def _local(location: Any) -> Path | None:
    """The file a source location names on this machine; None for a URL (checked when fetched)."""
    text = str(location)
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if scheme == "file":
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(text).path))
    if scheme and len(scheme) > 1:
        return None
    return Path(text).expanduser()


def _file_problem(location: Any, where: str, size: int | None = None) -> str | None:
    path = _local(location)
    if path is None:
        return None
    if not path.is_file():
        return f"{where} = {str(location)!r}: no such file ({path.resolve()})"
    actual = path.stat().st_size
    if actual == 0:
        return f"{where} = {str(location)!r}: the file is empty (0 bytes)"
    if size is not None and actual != size:
        return f"{where} = {str(location)!r}: {actual:,} bytes, the official archive has {size:,}; truncated or another file"
    return None


def local_source_problems(source: dict[str, Any], where: str, made_by_rules: Iterable[str] = ()) -> list[str]:
    """What a source names on this machine, checked without the network or reading any file
    through: archives and annotation files exist (and official archives have their size), list
    files exist unless a rule makes them (`made_by_rules`), an image root is a folder."""
    kind = source.get("kind")
    entry = SOURCE_TABLE.get(kind)
    problems: list[str | None] = []
    for key in entry.local_files if entry is not None else ():
        if source.get(key) is not None:
            # the official archive's size, when a local copy of it is given without a checksum
            unpinned = key == "local" and source.get("md5") is None and source.get("sha256") is None
            problems.append(_file_problem(source[key], f"{where}.{key}", entry.official_size if unpinned else None))
    if kind == "listfile":
        root = Path(str(source.get("root", ""))).expanduser()
        if "root" in source and not root.is_dir():
            problems.append(f"{where}.root = {str(source['root'])!r}: no such folder ({root.resolve()})")
        for which in ("train", "test", "val"):
            spec = source.get(which)
            if isinstance(spec, dict) and "path" in spec and str(spec["path"]) not in set(made_by_rules):
                problems.append(_file_problem(spec["path"], f"{where}.{which}.path"))
        for name, spec in (source.get("annotations") or {}).items():
            if isinstance(spec, dict) and "path" in spec:
                problems.append(_file_problem(spec["path"], f"{where}.annotations.{name}.path"))
    return [p for p in problems if p]
