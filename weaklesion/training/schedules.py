"""The paper's training schedules per model and dataset, and the config overrides on top.

PROTOCOL.md, section Training: A1 and A1+L use Adam 1e-3, batch 10, at most 50 epochs and
stop after 5 epochs without improvement of the validation mask loss (LiTS: validation Dice);
ACoseg uses Adam 1e-5 with gradient-norm clipping at 0.05, batch 8 in sub-batches of 4, and
stops on the validation loss with patience 5 (LiTS: on validation Dice with patience 4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weaklesion.datasets import adapter_class
from weaklesion.errors import ConfigError

MONITORS = {"val_loss": "min", "val_mask_loss": "min", "val_dice": "max"}
MAX_EPOCHS = 50  # every model of the paper, before early stopping
OVERRIDABLE = ("epochs", "batch_size", "lr", "patience", "monitor", "grad_clip")


@dataclass(frozen=True)
class Schedule:
    lr: float
    batch_size: int
    epochs: int
    patience: int
    monitor: str
    grad_clip: float | None = None

    @property
    def mode(self) -> str:
        return MONITORS[self.monitor]

    def improved(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value < best if self.mode == "min" else value > best


def paper_schedule(model: str, fmt: str) -> Schedule:
    """The released schedule of ``model`` on format ``fmt`` (its LiTS pipeline monitored the
    validation Dice)."""
    lits = adapter_class(fmt).released_code == "lits"
    if model == "ACoseg":
        # LiTS: validation Dice with patience 4, as for the other LiTS models but shorter
        # (PROTOCOL item 12); elsewhere the validation loss with patience 5.
        return Schedule(lr=1e-5, batch_size=8, epochs=MAX_EPOCHS, patience=4 if lits else 5,
                        monitor="val_dice" if lits else "val_loss", grad_clip=0.05)
    return Schedule(lr=1e-3, batch_size=10, epochs=MAX_EPOCHS, patience=5,
                    monitor="val_dice" if lits else "val_mask_loss")


def resolve_schedule(model: str, fmt: str, train: Mapping[str, Any]) -> Schedule:
    """The paper's schedule, then ``train.<key>``, then ``train.overrides.<model>.<key>``."""
    schedule = paper_schedule(model, fmt)
    per_model = (train.get("overrides") or {}).get(model, {})
    changes = {}
    for source, where in ((train, "train"), (per_model, f"train.overrides.{model}")):
        for key in OVERRIDABLE:
            if source.get(key) is not None:
                changes[key] = source[key]
                if key == "monitor" and source[key] not in MONITORS:
                    raise ConfigError(f"{where}.monitor = {source[key]!r}; valid: "
                                      f"{', '.join(MONITORS)}")
    return dataclasses.replace(schedule, **changes)
