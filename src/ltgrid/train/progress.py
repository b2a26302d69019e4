"""A cell's progress: a bar on a terminal, one plain line per epoch in logs."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    def __init__(self, total: int, start: int, label: str) -> None:
        self.label = label
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc=label, unit="epoch", leave=False)

    def update(self, record: dict[str, Any]) -> None:
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.update(1)
        else:
            print(f"[{self.label}] {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
