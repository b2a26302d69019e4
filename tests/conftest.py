"""Shared test helpers: the repository root and a throwaway copy of the project."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COPY_IGNORE = shutil.ignore_patterns(
    ".git", "results", ".snakemake", "__pycache__", "*.egg-info", ".pytest_cache", "raw", "splits", ".dvc", ".whl", ".gl"
)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def copy_project(dest: Path) -> Path:
    """A fresh working copy of the project (code, params, workflow) as a new git repo."""
    shutil.copytree(ROOT, dest, ignore=COPY_IGNORE)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], cwd=dest, check=True
    )
    return dest
