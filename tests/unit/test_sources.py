"""fetch() and safe_extract(): verified or nothing, inside the target or nothing."""

from __future__ import annotations

import hashlib
import http.server
import inspect
import os
import socket
import tarfile
import threading
from pathlib import Path

import pytest
from helpers.cifar_archives import make_hostile_archive, truncate

from ltgrid.data import SOURCES
from ltgrid.data.source_table import SOURCE_TABLE
from ltgrid.data.sources import ChecksumError, SourceError, UnsafeArchiveError, fetch, safe_extract, verify
from ltgrid.registry import load


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "blob.bin"
    path.parent.mkdir()
    path.write_bytes(bytes(range(256)) * 1000)
    return path


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fetch_local_path_and_file_url(tmp_path: Path, blob: Path) -> None:
    dest = fetch(blob, tmp_path / "dl" / "a.bin", md5=_md5(blob))
    assert dest.read_bytes() == blob.read_bytes()
    dest2 = fetch(blob.as_uri(), tmp_path / "dl" / "b.bin", sha256=_sha256(blob).upper())
    assert dest2.read_bytes() == blob.read_bytes()
    assert _leftovers(tmp_path / "dl") == ["a.bin", "b.bin"]


def test_fetch_reuses_verified_dest_and_replaces_bad_one(tmp_path: Path, blob: Path) -> None:
    dest = tmp_path / "dl" / "a.bin"
    fetch(blob, dest, md5=_md5(blob))
    mtime = dest.stat().st_mtime_ns
    blob_gone = blob.rename(blob.with_suffix(".moved"))
    assert fetch(blob, dest, md5=_md5(blob_gone)) == dest  # source absent: the cache is enough
    assert dest.stat().st_mtime_ns == mtime
    dest.write_bytes(b"stale")
    fetch(blob_gone, dest, md5=_md5(blob_gone))
    assert dest.read_bytes() == blob_gone.read_bytes()


def test_fetch_wrong_checksum_leaves_nothing(tmp_path: Path, blob: Path) -> None:
    wrong = "0" * 32
    with pytest.raises(ChecksumError) as err:
        fetch(blob, tmp_path / "dl" / "a.bin", md5=wrong)
    msg = str(err.value)
    assert wrong in msg and _md5(blob) in msg and "a.bin" in msg and str(blob) in msg
    assert not (tmp_path / "dl").exists()


def test_fetch_truncated_source_refused(tmp_path: Path, blob: Path) -> None:
    short = truncate(blob, tmp_path / "short.bin")
    (tmp_path / "dl").mkdir()
    with pytest.raises(ChecksumError, match=_sha256(blob)):
        fetch(short, tmp_path / "dl" / "a.bin", sha256=_sha256(blob))
    assert _leftovers(tmp_path / "dl") == []


def test_fetch_both_checksums_must_match(tmp_path: Path, blob: Path) -> None:
    with pytest.raises(ChecksumError, match="sha256 expected f{64}"):
        fetch(blob, tmp_path / "a.bin", md5=_md5(blob), sha256="f" * 64)
    assert not (tmp_path / "a.bin").exists()


def test_fetch_missing_local_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.tar.gz"
    with pytest.raises(SourceError, match="nowhere.tar.gz does not exist"):
        fetch(missing, tmp_path / "dl" / "x", md5="0" * 32)
    assert not (tmp_path / "dl").exists()


def test_fetch_unreachable_url(tmp_path: Path, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/cifar.tar.gz"
    with pytest.raises(SourceError, match=f"could not download {url}.*refused"):
        fetch(url, tmp_path / "dl" / "x", md5="0" * 32, timeout=5)
    assert not (tmp_path / "dl").exists()


@pytest.mark.parametrize(
    ("md5", "sha256", "match"),
    [(None, None, "needs an md5 or sha256"), ("abc", None, "'abc' is not 32 hex"), (None, "z" * 64, "is not 64 hex")],
)
def test_fetch_checksum_params_checked_first(
    tmp_path: Path, blob: Path, md5: str | None, sha256: str | None, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        fetch(blob, tmp_path / "a.bin", md5=md5, sha256=sha256)


def test_fetch_unsupported_scheme(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unsupported source 'ftp://"):
        fetch("ftp://example.org/x", tmp_path / "x", md5="0" * 32)


def test_verify(blob: Path) -> None:
    assert verify(blob, md5=_md5(blob))
    assert not verify(blob, md5="0" * 32)
    assert not verify(blob.with_name("absent"), md5=_md5(blob))


def _good_archive(path: Path) -> Path:
    src = path.parent / "payload"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("a")
    (src / "b.txt").write_text("b")
    with tarfile.open(path, "w:gz") as tf:
        tf.add(src, arcname="top")
    return path


def test_safe_extract_extracts_and_replaces(tmp_path: Path) -> None:
    archive = _good_archive(tmp_path / "good.tar.gz")
    target = tmp_path / "out" / "x"
    target.mkdir(parents=True)
    (target / "stale.txt").write_text("old")
    assert safe_extract(archive, target) == target
    assert (target / "top" / "sub" / "a.txt").read_text() == "a"
    assert not (target / "stale.txt").exists()
    assert _leftovers(tmp_path / "out") == ["x"]


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink"])
def test_safe_extract_refuses_escaping_members(tmp_path: Path, kind: str) -> None:
    archive = tmp_path / f"{kind}.tar.gz"
    bad = make_hostile_archive(archive, kind)
    with pytest.raises(UnsafeArchiveError) as err:
        safe_extract(archive, tmp_path / "out" / "x")
    assert repr(bad) in str(err.value) and str(archive) in str(err.value)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/ltgrid-evil.txt").exists()


def test_safe_extract_refuses_path_through_link(tmp_path: Path) -> None:
    archive = tmp_path / "chain.tar"
    with tarfile.open(archive, "w") as tf:
        link = tarfile.TarInfo("a/inner")
        link.type, link.linkname = tarfile.SYMTYPE, ".."
        tf.addfile(link)
        through = tarfile.TarInfo("a/inner/../../escape.txt")
        tf.addfile(through)
    with pytest.raises(UnsafeArchiveError, match="escape.txt"):
        safe_extract(archive, tmp_path / "out")
    assert _leftovers(tmp_path) == ["chain.tar"]


def test_safe_extract_truncated_and_garbage(tmp_path: Path) -> None:
    archive = _good_archive(tmp_path / "good.tar.gz")
    short = truncate(archive, tmp_path / "short.tar.gz", keep=0.6)
    with pytest.raises(SourceError, match="short.tar.gz is .*(truncated|corrupt)"):
        safe_extract(short, tmp_path / "out" / "x")
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive at all" * 50)
    with pytest.raises(SourceError, match="garbage.tar.gz"):
        safe_extract(garbage, tmp_path / "out" / "x")
    with pytest.raises(SourceError, match="absent.tar does not exist"):
        safe_extract(tmp_path / "absent.tar", tmp_path / "out" / "x")
    assert not (tmp_path / "out").exists()


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        short = self.path.endswith("/short")
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload[: len(self.payload) // 2] if short else self.payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(blob: Path):
    _Handler.payload = blob.read_bytes()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_over_http(tmp_path: Path, blob: Path, server: str) -> None:
    dest = fetch(f"{server}/blob.bin", tmp_path / "dl" / "a.bin", sha256=_sha256(blob))
    assert dest.read_bytes() == blob.read_bytes()
    umask = os.umask(0)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask  # not the 0600 of a temporary file


def test_fetch_http_connection_cut_short(tmp_path: Path, blob: Path, server: str) -> None:
    cut = r"could not read http://127\.0\.0\.1:\d+/short: the connection ended after 128000 of 256000"
    with pytest.raises(SourceError, match=cut):
        fetch(f"{server}/short", tmp_path / "dl" / "a.bin", md5=_md5(blob))
    assert not (tmp_path / "dl").exists()


@pytest.mark.parametrize("kind", sorted(SOURCE_TABLE))
def test_every_source_in_the_table_imports_and_takes_a_scratch_folder(kind: str) -> None:
    """data/source_table.py is the one table of sources: each builder is where it says, is what
    SOURCES builds, and takes `work_dir` beside its params; a plugin cannot take a built-in's kind."""
    builder = load(SOURCE_TABLE[kind].builder)
    assert SOURCES.get(kind) is builder and SOURCES.is_builtin(kind) and kind in SOURCES.names()
    assert "work_dir" in inspect.signature(builder).parameters
    with pytest.raises(ValueError, match=f"data source '{kind}' is a built-in"):
        SOURCES.register(kind)(lambda work_dir: None)
