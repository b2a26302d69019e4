"""When parts switch on or off during training (the lr schedule belongs to the trainer's recipe)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ltgrid.methods.catalog import SCHEDULE, fill


@dataclass(frozen=True)
class Schedule:
    """mix_off_last: stop mixing for the last K epochs (epochs are 0-based); checked by the catalog."""

    mix_off_last: int = SCHEDULE.args["mix_off_last"].default

    def __post_init__(self) -> None:
        fill(SCHEDULE, asdict(self), "schedule")

    def mixing_active(self, epoch: int, num_epochs: int) -> bool:
        return epoch < num_epochs - self.mix_off_last
