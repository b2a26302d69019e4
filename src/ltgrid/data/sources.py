"""Getting raw archives safely: checksum-verified fetch and traversal-proof tar extraction.

Every step writes under a temporary sibling name and renames only once the result is
known good, so an interrupted or refused download/extraction leaves nothing a later
step could mistake for data.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Iterator
from ltgrid.errors import DataError, UserError
from ltgrid.io import umask_mode

_CHUNK = 1 << 20
_HEX_DIGITS = {"md5": 32, "sha256": 64}
# What reading a damaged (truncated, corrupt) tar or gzip stream raises.
ARCHIVE_DAMAGE = (tarfile.ReadError, EOFError, zlib.error, OSError)


class SourceError(UserError, RuntimeError):
    """A raw source could not be fetched, verified or unpacked."""


class ChecksumError(SourceError):
    """The bytes arrived but are not the file the params promised."""


class UnsafeArchiveError(SourceError):
    """An archive member would land outside its target folder (or is not a plain file/folder)."""


def _expected_digests(md5: str | None, sha256: str | None) -> dict[str, str]:
    wanted = {name: value for name, value in (("md5", md5), ("sha256", sha256)) if value is not None}
    if not wanted:
        raise DataError("a source needs an md5 or sha256 checksum; refusing to use unverified data")
    for name, value in wanted.items():
        if not isinstance(value, str) or not re.fullmatch(f"[0-9a-f]{{{_HEX_DIGITS[name]}}}", value.lower()):
            raise DataError(f"{name} checksum {value!r} is not {_HEX_DIGITS[name]} hex digits")
    return {name: value.lower() for name, value in wanted.items()}


def file_digests(path: Path, algorithms: tuple[str, ...] = ("md5", "sha256")) -> dict[str, str]:
    """Hex digests of a file, read once."""
    hashes = {name: hashlib.new(name, usedforsecurity=False) for name in algorithms}
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            for h in hashes.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashes.items()}


def _mismatch(wanted: dict[str, str], actual: dict[str, str]) -> str | None:
    bad = [f"{name} expected {wanted[name]}, got {actual[name]}" for name in wanted if actual[name] != wanted[name]]
    return "; ".join(bad) or None


def verified_file(spec: Any, where: str, kind: str, hint: str = "") -> tuple[Path, dict[str, str]]:
    """The file a params entry {path, md5?, sha256?} names, checked against every digest it gives
    (read once); returns the path and both digests. `where` names the entry, `kind` the file."""
    if not isinstance(spec, dict) or "path" not in spec:
        raise DataError(f"{where} must be {{path, md5?, sha256?}}, got {spec!r}")
    unknown = sorted(set(spec) - {"path", "md5", "sha256"})
    if unknown:
        raise DataError(f"{where}: unknown key(s) {unknown}; allowed: path, md5, sha256")
    path = Path(spec["path"]).expanduser()
    if not path.is_file():
        raise SourceError(f"{where}.path: {kind} {path} does not exist{hint}")
    digests = file_digests(path)
    for algo in ("md5", "sha256"):
        wanted = spec.get(algo)
        if wanted is not None and str(wanted).lower() != digests[algo]:
            raise ChecksumError(
                f"{where}: {kind} {path} has {algo} {digests[algo]}, the params expect {wanted}; "
                "it is not the file the params name"
            )
    return path, digests


def verify(path: Path, md5: str | None = None, sha256: str | None = None) -> bool:
    """True when `path` exists and matches every given checksum."""
    wanted = _expected_digests(md5, sha256)
    return Path(path).is_file() and _mismatch(wanted, file_digests(Path(path), tuple(wanted))) is None


def _open_source(source: str, timeout: float) -> tuple[BinaryIO, str]:
    """Open a URL or local path for reading; return the stream and a human name for errors."""
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        try:
            return urllib.request.urlopen(source, timeout=timeout), source  # noqa: S310 - scheme checked
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            raise SourceError(f"could not download {source}: {exc}") from exc
    if scheme == "file":
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(source).path))
    elif scheme and len(scheme) > 1:  # one letter would be a Windows drive
        raise SourceError(f"unsupported source {source!r}: use https://, http://, file:// or a local path")
    else:
        path = Path(source).expanduser()
    if not path.is_file():
        raise SourceError(f"local source {path} does not exist or is not a file")
    return open(path, "rb"), str(path)



def _created_dirs(folder: Path) -> list[Path]:
    """Make `folder` (and parents); return the ones this call created, deepest first."""
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(dirs: list[Path]) -> None:
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            return


def fetch(
    url_or_path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download (or copy a local stand-in for) a file to `dest`, verified by checksum.

    An existing `dest` that verifies is reused; one that does not is discarded. The bytes
    go to a temporary sibling and are renamed onto `dest` only after verification, so a
    failure leaves neither a temporary file nor `dest` behind.
    """
    wanted = _expected_digests(md5, sha256)
    source = os.fspath(url_or_path)
    dest = Path(dest)
    if dest.is_file():
        if _mismatch(wanted, file_digests(dest, tuple(wanted))) is None:
            return dest
        dest.unlink()
    stream, where = _open_source(source, timeout)
    new_dirs: list[Path] = []
    tmp: Path | None = None
    try:
        new_dirs = _created_dirs(dest.parent)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        hashes = {name: hashlib.new(name, usedforsecurity=False) for name in wanted}
        size = 0
        with stream, os.fdopen(fd, "wb") as out:
            try:
                while chunk := stream.read(_CHUNK):
                    out.write(chunk)
                    size += len(chunk)
                    for h in hashes.values():
                        h.update(chunk)
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                raise SourceError(f"could not fetch {where} into {dest} (after {size} bytes): {exc}") from exc
            out.flush()
            os.fsync(out.fileno())
        announced = getattr(stream, "headers", {}).get("Content-Length")
        if announced is not None and announced.isdigit() and int(announced) != size:
            raise SourceError(f"could not read {where}: the connection ended after {size} of {announced} bytes")
        problem = _mismatch(wanted, {name: h.hexdigest() for name, h in hashes.items()})
        if problem:
            raise ChecksumError(
                f"{where} ({size} bytes) failed verification for {dest.name}: {problem}. "
                "The file is corrupt, truncated or not the one the params name; nothing was kept."
            )
        os.chmod(tmp, umask_mode(0o666))
        os.replace(tmp, dest)
    except BaseException:
        stream.close()
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        _remove_empty(new_dirs)
        raise
    return dest


def _parts(name: str) -> tuple[str, ...]:
    """A member or link name split on '/', without empty and '.' parts (plain strings: fast)."""
    return tuple(p for p in name.split("/") if p not in ("", "."))


def _climbs_out(parts: tuple[str, ...], depth: int = 0) -> bool:
    for part in parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return False


def _member_problem(member: tarfile.TarInfo, links: set[tuple[str, ...]]) -> str | None:
    """Why `member` may not be extracted, or None when it stays inside the target."""
    name = member.name
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "has an absolute path"
    parts = _parts(name)
    if _climbs_out(parts):
        return "climbs out of the target folder with '..'"
    if links and any(parts[:i] in links for i in range(1, len(parts))):
        return "passes through a link from the same archive"
    if member.issym() or member.islnk():
        if member.linkname.startswith("/") or re.match(r"[A-Za-z]:", member.linkname):
            return f"links to the absolute path {member.linkname!r}"
        # a symlink resolves from its own folder, a hard link from the archive root
        start = len(parts) - 1 if member.issym() else 0
        if _climbs_out(_parts(member.linkname), depth=start):
            return f"links outside the target folder ({member.linkname!r})"
        links.add(parts)
        return None
    if not (member.isfile() or member.isdir()):
        return "is a device, fifo or other special file"
    return None


def checked_members(tf: tarfile.TarFile, archive: Path) -> Iterator[tarfile.TarInfo]:
    """Iterate an open archive's members, refusing any that could escape its folder.

    Corrupt or truncated archives surface here as a SourceError naming the archive.
    """
    links: set[tuple[str, ...]] = set()
    try:
        for member in tf:
            problem = _member_problem(member, links)
            if problem:
                raise UnsafeArchiveError(f"archive {archive}: member {member.name!r} {problem}; refusing to extract")
            yield member
    except ARCHIVE_DAMAGE as exc:
        raise SourceError(f"archive {archive} is truncated or corrupt: {exc}") from exc


def read_member(tf: tarfile.TarFile, member: tarfile.TarInfo, archive: Path) -> bytes:
    """A member's bytes; a stream that ends early (truncated gzip) is the archive's damage, said once."""
    try:
        fh = tf.extractfile(member)
        if fh is None:
            raise SourceError(f"archive {archive}: {member.name!r} is not a regular file")
        return fh.read()
    except ARCHIVE_DAMAGE as exc:
        raise SourceError(f"archive {archive} is truncated or corrupt: {exc}") from exc


def open_archive(archive: Path) -> tarfile.TarFile:
    """Open a (possibly compressed) tar, turning "not an archive" into a SourceError."""
    try:
        return tarfile.open(archive, "r:*")
    except ARCHIVE_DAMAGE as exc:
        raise SourceError(f"archive {archive} is not a readable tar archive (truncated or corrupt?): {exc}") from exc


def safe_extract(tar_path: str | os.PathLike[str], target_dir: str | os.PathLike[str]) -> Path:
    """Extract a tar into `target_dir` (replacing it) only if every member stays inside.

    Extraction happens in a temporary sibling folder that is renamed into place at the
    end; a refused member, a corrupt archive or any other failure removes it.
    """
    archive, target = Path(tar_path), Path(target_dir)
    if not archive.is_file():
        raise SourceError(f"archive {archive} does not exist")
    new_dirs = _created_dirs(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=target.parent))
    try:
        with open_archive(archive) as tf:
            members = list(checked_members(tf, archive))
            try:
                tf.extractall(tmp, members=members, filter="data")
            except tarfile.FilterError as exc:
                raise UnsafeArchiveError(f"archive {archive}: {exc}; refusing to extract") from exc
            except (tarfile.ReadError, EOFError, zlib.error) as exc:
                raise SourceError(f"archive {archive} is truncated or corrupt: {exc}") from exc
        os.chmod(tmp, umask_mode(0o777))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(new_dirs)
        raise
    return target
