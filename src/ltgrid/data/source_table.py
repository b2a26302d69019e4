"""The dataset sources params may name, without torch: one table, kind -> where its builder lives
(imported when a dataset is prepared) and what params may be checked before any job (whether they
must pin a checksum, which keys name a file on this machine, the official archive's size, the
class count and head-class size when known).
data/__init__.py's SOURCES is built from it; a plugin's source registers with `SOURCES.register`.
Every builder takes `work_dir` (a scratch folder for downloads) and its params minus `kind`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceEntry:
    builder: str  # "module:function"
    needs_checksum: bool = False  # it fetches a file with no official checksum to fall back on
    local_files: tuple[str, ...] = ()  # params keys that may name a file on this machine
    official_size: int | None = None  # bytes of the official archive, checked on a local copy given no checksum
    # known before any download: the class count and the largest class's training images (a
    # long-tailed split's size follows from them, so a batch too large for it is refused early)
    classes: int | None = None
    head_size: int | None = None


SOURCE_TABLE: dict[str, SourceEntry] = {
    "sklearn_digits": SourceEntry("ltgrid.data.digits:digits_source", classes=10),
    "cifar10": SourceEntry(
        "ltgrid.data.cifar:cifar10_source", local_files=("local", "url"), official_size=170_498_071, classes=10, head_size=5000
    ),
    "cifar100": SourceEntry(
        "ltgrid.data.cifar:cifar100_source", local_files=("local", "url"), official_size=169_001_437, classes=100, head_size=500
    ),
    "image_folder_archive": SourceEntry(
        "ltgrid.data.imagefolder:image_folder_archive_source", needs_checksum=True, local_files=("path",)
    ),
    # its root folder, list files and annotations are nested params (data/source_checks.py reads them)
    "listfile": SourceEntry("ltgrid.data.listfile:listfile_source"),
}
