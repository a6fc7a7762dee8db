"""Are the results unchanged? Validation curves of the fast steps against the eager steps.

Each model is trained by ``weaklesion.training.loop.train`` itself for a few epochs on a
demo-sized synthetic set (168 training and 48 validation lesions, resnet18 from random
weights, compact geometry, the paper's schedules), four times from the same initial weights
and batch order: eagerly, eagerly again, with the fast paths, and eagerly with another seed.
Eager against eager is the noise floor of the GPU's own rounding (cuDNN's autotuned
algorithms, atomic additions); another seed is the scale of a real difference.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from gpu_check import synthetic

from weaklesion.training.fast_paths import EAGER, FastPaths
from weaklesion.training.loop import train
from weaklesion.training.schedules import paper_schedule
from weaklesion.training.settings import TrainSettings

DEMO_SPLIT = {"train": 168, "val": 48}  # the demo's 240 images at 0.7 / 0.2
CURVES = ("val_loss", "val_dice")


def demo_settings(model: str, precision: str, epochs: int, seed: int = 0) -> TrainSettings:
    schedule = dataclasses.replace(paper_schedule(model, "demo"), epochs=epochs,
                                   patience=epochs + 1)
    return TrainSettings(model=model, encoder="resnet18", encoder_weights=None, num_clusters=6,
                         geometry="compact", channel_order="rgb", pad_mode="zero",
                         schedule=schedule, seed=seed, protocol="corrected",
                         precision=precision)


def curves(model: str, precision: str, epochs: int, fast: FastPaths, device: torch.device,
           seed: int = 0, split: dict[str, int] = DEMO_SPLIT) -> pd.DataFrame:
    arrays = synthetic(sum(split.values()), 6, seed=1)
    splits = {"train": arrays.subset(np.arange(split["train"])),
              "val": arrays.subset(np.arange(split["train"], len(arrays)))}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        return train(demo_settings(model, precision, epochs, seed), splits,
                     out_model=out / "model.pt", out_history=out / "history.csv",
                     checkpoint_dir=out / "checkpoints", fingerprint="gpu-parity",
                     device=device, fast=fast)


def largest_difference(curve: pd.DataFrame, reference: pd.DataFrame, column: str) -> float:
    """The largest difference over the epochs, relative for losses, in points for Dice."""
    delta = (curve[column] - reference[column]).abs()
    if column == "val_dice":
        return float(delta.max())
    return float((delta / reference[column].abs()).max())


def parity(model: str, precision: str, epochs: int, fast: FastPaths, device: torch.device,
           split: dict[str, int] = DEMO_SPLIT) -> dict:
    """Each arm's curves and its largest difference from the eager run."""
    def run(fast_paths: FastPaths, seed: int = 0) -> pd.DataFrame:
        return curves(model, precision, epochs, fast_paths, device, seed, split)

    eager = run(EAGER)
    arms = {"eager again": run(EAGER), "fast paths": run(fast),
            "eager, another seed": run(EAGER, seed=1)}
    row = {"model": model, "precision": precision, "epochs": epochs,
           "fast": fast.described(),
           "curves": {"eager": eager[list(CURVES)].to_dict("list"),
                      **{arm: c[list(CURVES)].to_dict("list") for arm, c in arms.items()}}}
    for arm, curve in arms.items():
        for column in CURVES:
            row[f"{arm}: {column}"] = largest_difference(curve, eager, column)
    print(f"parity {model} {precision}: " + ", ".join(
        f"{k} {v:.2e}" for k, v in row.items() if ": " in k), flush=True)
    return row
