"""A tiny list-file dataset for tests: JPEGs under an image root plus ImageNet-LT-style split files.

Each class has its own colour (plus noise), so one epoch can learn something; the training
counts are long-tailed, the val and test sets balanced, like ImageNet-LT.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

TRAIN_COUNTS = (20, 10, 5, 2)  # ratio 10
VAL_PER_CLASS = 2
TEST_PER_CLASS = 4
COLOURS = ((220, 40, 40), (40, 200, 60), (50, 60, 220), (230, 210, 40))


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, quality=90)


def make_image_tree(
    base: Path, train_counts: tuple[int, ...] = TRAIN_COUNTS, size: tuple[int, int] = (40, 48), seed: int = 0
) -> dict[str, Path]:
    """Write <base>/images/{train,val,test}/c<k>/<n>.jpg and <base>/lists/tiny_{set}.txt; return the paths."""
    rng = np.random.default_rng(seed)
    root = base / "images"
    lists = base / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    per_set = {"train": train_counts, "val": (VAL_PER_CLASS,) * len(train_counts), "test": (TEST_PER_CLASS,) * len(train_counts)}
    out = {"root": root}
    for which, counts in per_set.items():
        lines = []
        for label, n in enumerate(counts):
            colour = np.array(COLOURS[label % len(COLOURS)], dtype=np.int16)
            for k in range(n):
                rel = f"{which}/c{label}/{k:04d}.jpg"
                noise = rng.integers(-30, 31, size=(*size, 3))
                write_jpeg(root / rel, np.clip(colour + noise, 0, 255).astype(np.uint8))
                lines.append(f"{rel} {label}\n")
        path = lists / f"tiny_{which}.txt"
        path.write_text("".join(lines))
        out[which] = path
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_params(tree: dict[str, Path], checksums: bool = True) -> dict:
    """The `source:` block of a params file for the tree."""
    def spec(which: str) -> dict:
        return {"path": str(tree[which]), **({"sha256": sha256(tree[which])} if checksums else {})}

    return {
        "kind": "listfile",
        "root": str(tree["root"]),
        "train": spec("train"),
        "val": spec("val"),
        "test": spec("test"),
        "num_classes": len(TRAIN_COUNTS),
        "expect": {"train_images": sum(TRAIN_COUNTS), "num_classes": len(TRAIN_COUNTS), "max_per_class": max(TRAIN_COUNTS), "min_per_class": min(TRAIN_COUNTS)},
    }
