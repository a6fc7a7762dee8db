"""A1+L: A1 plus the second task, classifying each lesion into its ellipse cluster."""

from __future__ import annotations

import os

import torch

from weaklesion.models.base import LesionModel, deeplabv3plus, positive_int, weights_label


class A1L(LesionModel):
    """DeepLabV3+ with a cluster head on the deepest encoder features.

    The head is smp's auxiliary classification head: global average pool → dropout →
    linear to ``num_clusters`` logits, as in the reference code (smp's default dropout 0.2).
    Output: ``{"mask": (N, 1, H, W) logits, "cluster": (N, num_clusters) logits}``.
    """

    name = "A1+L"

    def __init__(
        self,
        num_clusters: int,
        encoder: str = "resnet101",
        encoder_weights: str | os.PathLike | None = "imagenet",
        cluster_dropout: float = 0.2,
    ):
        num_clusters = positive_int(num_clusters, "num_clusters", minimum=2)
        super().__init__(
            encoder=encoder,
            encoder_weights=weights_label(encoder_weights),
            num_clusters=num_clusters,
            cluster_dropout=float(cluster_dropout),
        )
        self.deeplab = deeplabv3plus(
            encoder,
            encoder_weights,
            aux_params={"classes": num_clusters, "dropout": cluster_dropout},
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mask, cluster = self.deeplab(x)
        return {"mask": mask, "cluster": cluster}
