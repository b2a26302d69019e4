"""How a command's failure reaches the user: one `error:` line, also on the console when a rule
sends stderr to a log file."""

from __future__ import annotations

import os
import sys


def _stderr_to_a_file() -> bool:
    """Whether stderr is redirected to a regular file that stdout does not also write to."""
    import stat

    try:
        err, out = os.fstat(sys.stderr.fileno()), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISREG(err.st_mode) and (err.st_dev, err.st_ino) != (out.st_dev, out.st_ino)


def report_error(message: str) -> None:
    """`error: ...` on stderr, and on stdout too when stderr goes to a file: a rule sends a job's
    stderr to its log file, and the reason a job failed must reach the console beside
    Snakemake's own report of the failure, not only the log."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    if _stderr_to_a_file():
        print(f"error: {message}", flush=True)
