"""The paper's training schedules per model and format, and the config overrides on top."""

from __future__ import annotations

import pytest
from workflow_helpers import validated

from weaklesion.errors import ConfigError
from weaklesion.training.schedules import Schedule, paper_schedule, resolve_schedule
from weaklesion.training.settings import settings_from_config

FORMATS = ["ham10000", "lits", "deeplesion", "folder", "demo"]

# The workflow's train config as the schema completes an empty one, with the released channel
# order and zero padding.
TRAIN_DEFAULTS = {**validated({"datasets": {"d": {"format": "demo"}}})["train"],
                  "channel_order": "paper", "pad_mode": "zero", "selection": "best"}


@pytest.mark.parametrize("model", ["A1", "A1+L"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a1_and_a1l_follow_the_paper(model, fmt):
    schedule = paper_schedule(model, fmt)
    monitor = "val_dice" if fmt == "lits" else "val_mask_loss"
    assert schedule == Schedule(lr=1e-3, batch_size=10, epochs=50, patience=5,
                                monitor=monitor, grad_clip=None)


@pytest.mark.parametrize("fmt", FORMATS)
def test_acoseg_follows_the_paper(fmt):
    """LiTS: validation Dice, patience 4 (PROTOCOL item 12); elsewhere the loss, patience 5."""
    schedule = paper_schedule("ACoseg", fmt)
    lits = fmt == "lits"
    assert schedule == Schedule(lr=1e-5, batch_size=8, epochs=50, patience=4 if lits else 5,
                                monitor="val_dice" if lits else "val_loss", grad_clip=0.05)


def test_monitor_direction():
    loss = Schedule(lr=1e-3, batch_size=10, epochs=50, patience=5, monitor="val_mask_loss")
    dice = Schedule(lr=1e-3, batch_size=10, epochs=50, patience=5, monitor="val_dice")
    assert loss.improved(1.0, None) and dice.improved(1.0, None)
    assert loss.improved(0.9, 1.0) and not loss.improved(1.1, 1.0)
    assert dice.improved(80.0, 70.0) and not dice.improved(60.0, 70.0)
    # Equal is not an improvement: a plateau counts towards the patience.
    assert not loss.improved(1.0, 1.0) and not dice.improved(70.0, 70.0)


def test_config_without_overrides_keeps_the_paper_schedule():
    for model in ("A1", "A1+L", "ACoseg"):
        for fmt in ("ham10000", "lits"):
            assert resolve_schedule(model, fmt, TRAIN_DEFAULTS) == paper_schedule(model, fmt)


def test_null_values_keep_the_paper_values():
    train = {**TRAIN_DEFAULTS, "epochs": None, "lr": None, "monitor": None,
             "overrides": {"ACoseg": {"lr": None, "patience": None}}}
    assert resolve_schedule("ACoseg", "lits", train) == paper_schedule("ACoseg", "lits")


def test_global_overrides_apply_to_every_model():
    train = {**TRAIN_DEFAULTS, "epochs": 6, "batch_size": 4}
    for model in ("A1", "A1+L", "ACoseg"):
        schedule = resolve_schedule(model, "ham10000", train)
        assert (schedule.epochs, schedule.batch_size) == (6, 4)
        paper = paper_schedule(model, "ham10000")
        assert (schedule.lr, schedule.patience, schedule.monitor, schedule.grad_clip) == (
            paper.lr, paper.patience, paper.monitor, paper.grad_clip)


def test_per_model_overrides_win_over_global_ones_for_that_model_only():
    train = {**TRAIN_DEFAULTS, "epochs": 6, "lr": 1e-4,
             "overrides": {"ACoseg": {"lr": 3e-5, "grad_clip": 0.5, "monitor": "val_dice"}}}
    acoseg = resolve_schedule("ACoseg", "lits", train)
    assert acoseg == Schedule(lr=3e-5, batch_size=8, epochs=6, patience=4,
                              monitor="val_dice", grad_clip=0.5)
    a1 = resolve_schedule("A1", "lits", train)
    assert a1 == Schedule(lr=1e-4, batch_size=10, epochs=6, patience=5, monitor="val_dice")


def test_bad_global_monitor_names_the_key():
    with pytest.raises(ConfigError, match=r"train\.monitor = 'val_iou'.*val_mask_loss"):
        resolve_schedule("A1", "ham10000", {**TRAIN_DEFAULTS, "monitor": "val_iou"})


def test_bad_per_model_monitor_names_the_key():
    train = {**TRAIN_DEFAULTS, "overrides": {"A1+L": {"monitor": "dice"}}}
    with pytest.raises(ConfigError, match=r"train\.overrides\.A1\+L\.monitor = 'dice'"):
        resolve_schedule("A1+L", "ham10000", train)
    # The other models do not read A1+L's overrides.
    assert resolve_schedule("A1", "ham10000", train) == paper_schedule("A1", "ham10000")


@pytest.mark.parametrize(
    ("fmt", "channel_order", "expected"),
    [
        ("ham10000", "paper", "bgr"),
        ("demo", "paper", "bgr"),
        ("lits", "paper", "rgb"),
        ("deeplesion", "paper", "rgb"),
        ("folder", "paper", "rgb"),
        ("ham10000", "corrected", "rgb"),
        ("demo", "corrected", "rgb"),
    ],
)
def test_bgr_only_for_opencv_read_formats_under_paper(fmt, channel_order, expected):
    settings = settings_from_config(
        model="A1", seed=3, dataset={"format": fmt, "k": 7, "protocol": "paper"},
        train_config={**TRAIN_DEFAULTS, "channel_order": channel_order}, weights_file=None)
    assert settings.channel_order == expected


def test_settings_from_config_carries_every_value():
    train = {**TRAIN_DEFAULTS, "encoder": "resnet18", "geometry": "compact",
             "pad_mode": "reflect", "selection": "stop", "deterministic": True, "epochs": 3}
    settings = settings_from_config(
        model="A1+L", seed="2", dataset={"format": "lits", "k": 40, "protocol": "paper"},
        train_config=train, weights_file="resources/weights/resnet18.pt")
    assert settings.model == "A1+L"
    assert settings.seed == 2
    assert settings.num_clusters == 40
    assert settings.encoder == "resnet18"
    assert settings.encoder_weights == "resources/weights/resnet18.pt"
    assert (settings.geometry, settings.pad_mode) == ("compact", "reflect")
    assert (settings.selection, settings.deterministic) == ("stop", True)
    assert settings.schedule == Schedule(lr=1e-3, batch_size=10, epochs=3, patience=5,
                                         monitor="val_dice")
