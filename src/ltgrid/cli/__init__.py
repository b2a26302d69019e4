"""`python -m ltgrid <command>`: the entry points the workflow rules call, one module per stage
(data, cells, reports, tracking); imports inside the commands are lazy, so `train` can take its
GPU lease and set CUDA_VISIBLE_DEVICES before torch is loaded.
"""

from __future__ import annotations

import argparse

from ltgrid.cli import cells, data, reports, tracking
from ltgrid.cli.console import report_error


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ltgrid", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    data.commands(sub)
    cells.commands(sub)
    reports.commands(sub)
    reports.add_analysis_commands(sub)
    tracking.commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user's mistake (the project's own errors, a missing input file) is one
    line and exit 2, anything else is a bug and keeps its traceback."""
    args = build_parser().parse_args(argv)
    from ltgrid.errors import UserError

    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError) as exc:
        report_error(str(exc))
        return 2
