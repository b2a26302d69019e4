"""iNaturalist 2018 official JSON annotations -> "relative/path label" list files.

The official `train2018.json` / `val2018.json` (COCO style: `images`, `annotations`,
`categories`), or their archives `train2018.json.tar.gz` / `val2018.json.tar.gz` as
downloaded (whose md5s the organisers publish), become the list files `listfile.py` reads,
one line per image in the JSON's image order: `train_val2018/<kingdom>/<id>/<hash>.jpg
<label>`, paths relative to the folder the images were unpacked in. Labels are the category ids (0..8141 in iNat 2018); ids that
are not 0..C-1 are mapped to their rank, so a list never holds an out-of-range label.

`python -m ltgrid.data.inat --spec '{"path": ".../train2018.json", "md5": "..."}' --out x.txt`
is what the `inat_list` rule runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from ltgrid.data.sources import SourceError, verified_file
from ltgrid.io import write_text


def verify_annotations(spec: dict[str, Any]) -> Path:
    """The annotation file named by {path, md5?, sha256?}, checked against the given digests."""
    hint = " (download the iNaturalist 2018 JSON files first)"
    return verified_file(spec, "annotation spec", "annotation file", hint)[0]


def annotation_lines(data: dict[str, Any], where: str) -> list[str]:
    """One "file_name label" line per image, in the JSON's image order; each image needs one label."""
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise SourceError(f"{where}: no {key!r} list; is this an iNaturalist annotation file?")
    ids = sorted(int(c["id"]) for c in data["categories"])
    label_of = {cid: rank for rank, cid in enumerate(ids)}
    category_of: dict[int, int] = {}
    for ann in data["annotations"]:
        image_id = int(ann["image_id"])
        if image_id in category_of:
            raise SourceError(f"{where}: image id {image_id} has more than one annotation")
        cid = int(ann["category_id"])
        if cid not in label_of:
            raise SourceError(f"{where}: image id {image_id} has category {cid}, not among the file's categories")
        category_of[image_id] = cid
    lines = []
    for image in data["images"]:
        image_id = int(image["id"])
        if image_id not in category_of:
            raise SourceError(f"{where}: image {image['file_name']} (id {image_id}) has no annotation")
        name = str(image["file_name"])
        if name.startswith("/") or ".." in Path(name).parts or not name.strip():
            raise SourceError(f"{where}: image path {name!r} must be relative, without '..'")
        lines.append(f"{name} {label_of[category_of[image_id]]}")
    return lines


def read_annotations(path: Path) -> dict[str, Any]:
    """The JSON itself, or read straight out of the official `*.json.tar.gz` (one .json member,
    nothing extracted to disk), so the archive's published md5 can pin it."""
    raw = _archived_json(path) if path.name.endswith((".tar.gz", ".tgz")) else path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(f"annotation file {path} is not valid JSON: {exc}") from None


def _archived_json(path: Path) -> bytes:
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".json")]
            if len(members) != 1:
                raise SourceError(f"annotation archive {path} must hold exactly one .json file, "
                                  f"found {[m.name for m in members]}")
            return tar.extractfile(members[0]).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise SourceError(f"annotation archive {path} is truncated or not a .tar.gz: {exc}") from None


def convert(spec: dict[str, Any], out: str | Path) -> Counter[int]:
    """Write the list file for one annotation file atomically; return the per-label counts."""
    path = verify_annotations(spec)
    data = read_annotations(path)
    lines = annotation_lines(data, str(path))
    write_text(out, "\n".join(lines) + "\n")
    return Counter(int(line.rsplit(" ", 1)[1]) for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ltgrid.data.inat", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", required=True, help='JSON: {"path": ..., "md5": ..., "sha256": ...}')
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        counts = convert(json.loads(args.spec), args.out)
    except (SourceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {sum(counts.values())} images, {len(counts)} classes, "
          f"{max(counts.values())} down to {min(counts.values())} per class")
    return 0


if __name__ == "__main__":
    sys.exit(main())
