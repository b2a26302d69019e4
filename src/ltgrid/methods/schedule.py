"""When parts switch on or off during training (the lr schedule belongs to the trainer's recipe)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """mix_off_last: stop mixing for the last K epochs (epochs are 0-based)."""

    mix_off_last: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.mix_off_last, int) or isinstance(self.mix_off_last, bool) or self.mix_off_last < 0:
            raise ValueError(f"mix_off_last must be an integer >= 0, got {self.mix_off_last!r}")

    def mixing_active(self, epoch: int, num_epochs: int) -> bool:
        return epoch < num_epochs - self.mix_off_last
