"""A live Snakemake run or a stale lock? Say which, and the command that is right for it.

Snakemake's own advice misleads in both cases: a second run started beside a live one is
told to use `--rerun-incomplete` (which then fails on the lock), and after a SIGKILL every
run fails until `--unlock`. Snakemake keeps its locks in `.snakemake/locks/` without a
process id, so a live run is recognised by a `snakemake` process whose working folder is
this project (read from /proc, Linux only; elsewhere every lock looks stale).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Sequence

# Flags after which a rerun must not repeat the user's words: they are the recovery itself.
_RECOVERY_FLAGS = ("--unlock", "--rerun-incomplete", "--ri")


def _ancestors() -> set[int]:
    """This process and its parents: the run being planned is not "another" run."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pids


def live_snakemake_pids(root: str | Path) -> list[int]:
    """Snakemake processes (other than this one and its parents) working in `root`."""
    root = Path(root).resolve()
    mine = _ancestors()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        pid = int(proc.name)
        if pid in mine:
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if not any(Path(os.fsdecode(a)).name == "snakemake" or a == b"snakemake" for a in argv[:3]):
                continue
            if Path(os.readlink(proc / "cwd")).resolve() == root:
                found.append(pid)
        except OSError:
            continue
    return sorted(found)


def has_locks(root: str | Path) -> bool:
    locks = Path(root) / ".snakemake" / "locks"
    return locks.is_dir() and any(locks.iterdir())


def _command(argv: Sequence[str], *flags: str) -> str:
    """The user's command with `flags` first (`--configfile` swallows every word after it)."""
    words = [a for a in argv[1:] if a not in _RECOVERY_FLAGS]
    return shlex.join(["snakemake", *flags, *words])


def lock_advice(root: str | Path, argv: Sequence[str]) -> str | None:
    """None when nothing holds the project; else one message: wait for the live run, or unlock."""
    if not has_locks(root):
        return None
    live = live_snakemake_pids(root)
    if live:
        pids = ", ".join(map(str, live))
        return (
            f"another snakemake (pid {pids}) is running in {Path(root).resolve()}: wait for it to finish "
            f"(or stop it: kill {pids}); do not use --unlock or --rerun-incomplete while it runs"
        )
    unlock = shlex.join(["snakemake", "--unlock", *_configfile_words(argv)])
    return (
        "a killed run left its lock (no snakemake is running here): recover with "
        f"`{unlock}` then `{_command(argv, '--rerun-incomplete')}`"
    )


def is_dry_run(argv: Sequence[str]) -> bool:
    """`-n`, `--dry-run`, or `-n` among combined short flags (`-np`): no job runs, no lock is taken."""
    return any(a in ("--dry-run", "--dryrun") or re.fullmatch(r"-[A-Za-z]*n[A-Za-z]*", a) for a in argv[1:])


def _configfile_words(argv: Sequence[str]) -> list[str]:
    """What names the grid on the user's command line: `--configfile X` or `--config grid=X`
    (and their equals forms)."""
    for i, word in enumerate(argv):
        if word in ("--configfile", "--configfiles", "--config") and i + 1 < len(argv):
            return [word, argv[i + 1]]
        if word.startswith(("--configfile=", "--configfiles=", "--config=")):
            return [word]
    return []
