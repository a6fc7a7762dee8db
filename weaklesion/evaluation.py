"""Predicting patches with a trained model, and scoring it with the paper's metrics.

Which lesions a run is scored on, against which masks, is decided by
:func:`weaklesion.evaluated_set.evaluation_plan`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from weaklesion.atomic import atomic_path, write_text
from weaklesion.checkpoints import load_checkpoint
from weaklesion.errors import WeaklesionError
from weaklesion.geometry import from_canvas, normalise, to_canvas
from weaklesion.h5store import write_masks
from weaklesion.metrics import METRIC_COLUMNS, lesion_metrics
from weaklesion.training import autocast


class Predictor:
    """A trained model with the input settings it was trained with (from its checkpoint)."""

    def __init__(self, model_path: Path, device: torch.device, expect: dict | None = None):
        self.model, state = load_checkpoint(model_path, expect=expect)
        settings = state["extra"].get("settings")
        if not isinstance(settings, dict):
            raise WeaklesionError(f"{model_path}: checkpoint holds no training settings (input "
                                  "geometry, channel order); use a model.pt written by training")
        self.encoder = settings["encoder"]
        self.geometry = settings["geometry"]
        self.channel_order = settings["channel_order"]
        self.pad_mode = settings["pad_mode"]
        self.precision = settings.get("precision", "bf16")  # models from before the setting
        self.device = device
        self.model.to(device).eval()
        if device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)
        self.state = state

    @torch.no_grad()
    def probabilities(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """(N, 120, 120, 3) uint8 RGB patches → (N, 120, 120) float32 foreground probability."""
        out = np.empty(images.shape[:3], dtype=np.float32)
        for start in range(0, len(images), batch_size):
            chunk = torch.from_numpy(images[start:start + batch_size]).to(self.device)
            x = normalise(chunk, self.encoder, self.channel_order, channels_last=True)
            x = to_canvas(x, self.geometry, pad_mode=self.pad_mode)
            with autocast(self.device, self.precision):
                logits = self.model(x)["mask"]
            window = from_canvas(logits.float(), self.geometry)[:, 0]
            out[start:start + len(chunk)] = torch.sigmoid(window).cpu().numpy()
        return out

    def masks(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Prediction = sigmoid ≥ 0.5, as in the paper."""
        return self.probabilities(images, batch_size) >= 0.5


def score_test_split(predicted: np.ndarray, target: np.ndarray,
                     lesion_ids: np.ndarray) -> pd.DataFrame:
    """Per-lesion metrics; empty predictions get the evaluated set's largest errors (the
    paper's rule)."""
    table = lesion_metrics(target, predicted)
    table.insert(0, "lesion_id", lesion_ids)
    return table


def summarise(table: pd.DataFrame, extra: dict[str, Any]) -> dict[str, Any]:
    # A column without any scoreable lesion (all GT empty) is null, since JSON has no NaN.
    means = table[METRIC_COLUMNS].mean()
    summary = {column: None if np.isnan(v) else float(v) for column, v in means.items()}
    summary.update(n_lesions=len(table), n_empty_predictions=int(table["pred_empty"].sum()),
                   **extra)
    return summary


def write_evaluation(table: pd.DataFrame, summary: dict[str, Any], metrics_path: Path,
                     summary_path: Path, predictions_path: Path, predicted: np.ndarray) -> None:
    """Per-lesion metrics, their means, and the predicted test masks (for figures and for
    users comparing methods lesion by lesion)."""
    write_masks(predictions_path, "prediction", predicted, table["lesion_id"])
    with atomic_path(metrics_path, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    write_text(summary_path, json.dumps(summary, indent=2, sort_keys=True) + "\n")
