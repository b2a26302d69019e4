"""Facts about the project every layer may need: where its root is, and which words mark a secret.

They live here, at the bottom of the package, so params and plugins do not import tracking for them.
"""

from __future__ import annotations

import os
from pathlib import Path

# Set by the Snakefile for its jobs (a job may run in another folder, e.g. on a cluster node).
PROJECT_ROOT_ENV = "LTGRID_PROJECT_ROOT"
# Params are committed and logged to MLflow: a key holding one of these words is refused or redacted.
SECRET_WORDS = ("password", "token", "secret", "credential", "apikey", "api_key")


def project_root(root: str | Path | None = None) -> Path:
    """`root` if given, else $LTGRID_PROJECT_ROOT, else the working folder; absolute."""
    return Path(root or os.environ.get(PROJECT_ROOT_ENV) or Path.cwd()).resolve()
