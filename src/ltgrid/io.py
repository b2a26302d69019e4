"""Atomic file writes: a reader (or Snakemake) never sees a half-written result; reads that name a
damaged file in one line instead of a traceback from deep inside json or numpy."""

from __future__ import annotations

import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ltgrid.errors import DamagedFileError

if TYPE_CHECKING:
    from numpy.lib.npyio import NpzFile


def _read_umask() -> int:
    """os.umask can only be read by setting it: done once, at import, before any thread runs."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def umask_mode(full: int) -> int:
    """`full` (0o666 file, 0o777 folder) less the process umask: the mode open()/mkdir() give,
    for temporaries (created 0600/0700) renamed into shared places."""
    return full & ~_UMASK


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp makes the file 0600; results are shared (DVC, a team's cluster), so give it
    # the mode open() would have: 0666 less the umask.
    os.fchmod(fd, umask_mode(0o666))
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DamagedFileError(f"{path} is not valid JSON ({e}): damaged or truncated; delete it and rerun") from None


@contextmanager
def open_npz(path: str | os.PathLike[str]) -> Iterator["NpzFile"]:
    """An .npz opened without pickles. A truncated, corrupt or foreign file (also one whose
    damage shows only when an array is read in the block) is named in one line."""
    import zipfile
    import zlib

    import numpy as np

    def damaged(why: object) -> DamagedFileError:
        return DamagedFileError(f"{path} is damaged or not the file expected ({why}); delete it and rerun")

    try:
        with np.load(path, allow_pickle=False) as z:
            try:
                yield z
            except KeyError as e:
                if "is not a file in the archive" not in str(e):
                    raise
                raise damaged(f"no array {e.args[0].split()[0]!r}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise damaged(e) from None
    except ValueError as e:  # np.load's answer to a file that is neither .npy nor .npz, or holds pickles
        if isinstance(e, DamagedFileError) or not re.search(r"pickle|Cannot load file|magic", str(e)):
            raise
        raise damaged(e) from None
