"""What defines a training run (:class:`TrainSettings`), from the config and the dataset's
protocol: under ``protocol: paper`` the released code's channel order, padding, model
selection and gradient accumulation; under ``corrected`` the project's."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weaklesion.datasets import adapter_class
from weaklesion.errors import ConfigError
from weaklesion.protocols import CORRECTED, PAPER
from weaklesion.training.schedules import Schedule, resolve_schedule


@dataclass(frozen=True)
class TrainSettings:
    """Everything that defines a training run (and so its checkpoint's validity)."""

    model: str
    encoder: str
    encoder_weights: str | None  # None or a local file: weights are fetched before training
    num_clusters: int
    geometry: str
    channel_order: str  # "rgb" | "bgr" (the paper's HAM10000 defect)
    pad_mode: str
    schedule: Schedule
    seed: int
    protocol: str  # recorded: the facts below follow from it
    # "best" epoch on the monitor; "stop": the last epoch run; "last_after_early_stop": the
    # last epoch if training stopped early, else the best (the released HAM10000 A1+L).
    selection: str = "best"
    deterministic: bool = False
    # The released ACoseg never called zero_grad: every step adds to the gradient of all steps
    # before it (then clips the sum to the norm limit and steps Adam).
    accumulate_gradients: bool = False
    precision: str = "fp32"  # or "bf16": autocast on CUDA (CPU runs are fp32 either way)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SELECTIONS = ("best", "stop", "last_after_early_stop")


def keeps_best(selection: str, stopped_early: bool) -> bool:
    """Whether the model kept is the best epoch's (else the last epoch's).

    ``last_after_early_stop`` is the released HAM10000 A1+L (PROTOCOL item 13): on an early
    stop it overwrote its best checkpoint with the last epoch's model, which is the one it
    evaluated; a run that used all its epochs kept its best.
    """
    if selection not in SELECTIONS:
        raise ConfigError(f"train.selection = {selection!r}; valid: {', '.join(SELECTIONS)}")
    if selection == "last_after_early_stop":
        return not stopped_early
    return selection == "best"


# The released padding, albumentations' PadIfNeeded default (reflect-101), and ours.
PAD_MODE = {PAPER: "reflect", CORRECTED: "zero"}


def settings_from_config(*, model: str, seed: int, dataset: Mapping[str, Any],
                         train_config: Mapping[str, Any], weights_file: str | None
                         ) -> TrainSettings:
    """TrainSettings from the workflow config (``train:``) and one protocol's dataset entry.

    ``channel_order``, ``pad_mode`` and ``selection`` set to ``protocol`` follow the run's
    protocol; any other value applies to both protocols."""
    fmt, protocol = dataset["format"], dataset["protocol"]
    paper = protocol == PAPER
    channel_order = _per_protocol(train_config["channel_order"], protocol)
    pad_mode = _per_protocol(train_config["pad_mode"], PAD_MODE[protocol])
    selection = _per_protocol(train_config["selection"],
                              released_selection(model, fmt) if paper else "best")
    return TrainSettings(
        model=model,
        encoder=train_config["encoder"],
        encoder_weights=weights_file,
        num_clusters=int(dataset["k"]),
        geometry=train_config["geometry"],
        channel_order=(adapter_class(fmt).paper_channel_order if channel_order == PAPER
                       else "rgb"),
        pad_mode=pad_mode,
        schedule=resolve_schedule(model, fmt, train_config),
        seed=int(seed),
        protocol=protocol,
        selection=selection,
        deterministic=bool(train_config["deterministic"]),
        accumulate_gradients=paper and model == "ACoseg",
        precision=train_config["precision"],
    )


def released_selection(model: str, fmt: str) -> str:
    """The released code's model selection for ``model`` on format ``fmt`` (see
    :func:`keeps_best`): its HAM10000 pipeline kept A1+L's last epoch after an early stop."""
    if model == "A1+L" and adapter_class(fmt).released_code == "ham10000":
        return "last_after_early_stop"
    return "best"


def _per_protocol(value: str, protocol_value: str) -> str:
    return protocol_value if value == "protocol" else value
