"""ACoseg: the co-segmentation baseline (Agarwal et al. 2020) on the same DeepLabV3+.

Each image's own globally pooled features give, through a small MLP, a per-channel weight
that rescales those features before the shared decoder. This is done at the two feature
maps DeepLabV3+'s decoder reads: the deepest stage (ASPP input) and stage 1 (stride 4, the
high-resolution skip). The pairing of images is a matter of training: see
:func:`weaklesion.training.losses.coseg_pairs`.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from weaklesion.models.base import LesionModel, deeplabv3plus, positive_int, weights_label

# Index, in smp's encoder feature list, of the stride-4 map the DeepLabV3+ decoder fuses.
HIGHRES_STAGE = 2


class ChannelAttention(nn.Module):
    """x ↦ x · sigmoid(W₂ tanh(W₁ avgpool(x))), one weight per channel and image."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.Tanh(),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def weights(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C) attention vector of (N, C, H, W) features."""
        return self.mlp(features.mean(dim=(2, 3)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features * self.weights(features)[:, :, None, None]


class ACoseg(LesionModel):
    """DeepLabV3+ with channel attention on the decoder's two inputs.

    ``attention_hidden`` is the MLPs' hidden width (4096 in the paper).
    Output: ``{"mask": (N, 1, H, W) logits}``.
    """

    name = "ACoseg"

    def __init__(
        self,
        encoder: str = "resnet101",
        encoder_weights: str | os.PathLike | None = "imagenet",
        attention_hidden: int = 4096,
    ):
        attention_hidden = positive_int(attention_hidden, "attention_hidden")
        super().__init__(
            encoder=encoder,
            encoder_weights=weights_label(encoder_weights),
            num_clusters=None,
            attention_hidden=attention_hidden,
        )
        self.deeplab = deeplabv3plus(encoder, encoder_weights)
        channels = self.deeplab.encoder.out_channels
        self.deep_attention = ChannelAttention(channels[-1], attention_hidden)
        self.highres_attention = ChannelAttention(channels[HIGHRES_STAGE], attention_hidden)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.deeplab.check_input_shape(x)
        features = list(self.deeplab.encoder(x))
        features[-1] = self.deep_attention(features[-1])
        features[HIGHRES_STAGE] = self.highres_attention(features[HIGHRES_STAGE])
        decoded = self.deeplab.decoder(features)
        return {"mask": self.deeplab.segmentation_head(decoded)}
