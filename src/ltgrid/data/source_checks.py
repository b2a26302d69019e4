"""A dataset's `source` params checked at validate time, before any job runs.

Without these, a source missing its checksum (or with a misspelt argument) passed
`ltgrid validate` and failed only inside the prepare job, after the tracking store had
been set up for a grid that could never run.
"""

from __future__ import annotations

from typing import Any

from ltgrid.data.sources import _expected_digests
from ltgrid.registry import argument_problem

# Sources that fetch a file with no official checksum to fall back on: the params must pin one.
NEEDS_CHECKSUM = {"image_folder_archive"}


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
    if kind not in NEEDS_CHECKSUM and not any(v is not None for v in given.values()):
        return []
    try:
        _expected_digests(given["md5"], given["sha256"])
    except ValueError as exc:
        return [f"{where}: {exc} (source kind {kind!r})"]
    return []
