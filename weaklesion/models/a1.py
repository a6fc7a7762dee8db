"""A1: DeepLabV3+ trained on the ellipse pseudo-masks alone (the paper's baseline)."""

from __future__ import annotations

import os

import torch

from weaklesion.models.base import LesionModel, deeplabv3plus, weights_label


class A1(LesionModel):
    """DeepLabV3+ with one mask channel. Output: ``{"mask": (N, 1, H, W) logits}``."""

    name = "A1"

    def __init__(
        self,
        encoder: str = "resnet101",
        encoder_weights: str | os.PathLike | None = "imagenet",
    ):
        super().__init__(
            encoder=encoder, encoder_weights=weights_label(encoder_weights), num_clusters=None
        )
        self.deeplab = deeplabv3plus(encoder, encoder_weights)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"mask": self.deeplab(x)}
