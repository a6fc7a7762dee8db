"""A trained model that segments 120×120 patches with the input pipeline it was trained with
(canvas, channel order, padding and precision, from its checkpoint), as the paper thresholds
it: sigmoid ≥ 0.5 on the patch's window of the canvas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from weaklesion.errors import WeaklesionError
from weaklesion.models.canvas import from_canvas, normalise, to_canvas
from weaklesion.training.checkpoints import load_checkpoint
from weaklesion.training.precision import autocast


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
        self.precision = settings["precision"]
        self.protocol = settings["protocol"]
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
