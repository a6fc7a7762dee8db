"""What the three networks share: smp's DeepLabV3+ and one output contract."""

from __future__ import annotations

import operator
import os
from typing import Any

import segmentation_models_pytorch as smp
import torch
from torch import nn

from weaklesion.errors import ConfigError
from weaklesion.models import is_weight_file
from weaklesion.models.weights import check_encoder_name, check_weight_preset, load_encoder_weights


class LesionModel(nn.Module):
    """Base of every weaklesion network.

    ``forward(x)`` takes an (N, 3, H, W) normalised canvas and returns a dict with at least
    ``"mask"``: (N, 1, H, W) logits, so training and evaluation never branch on the type.
    ``config`` holds the construction arguments (``name``, ``encoder``, ``encoder_weights``,
    ``num_clusters`` and any model-specific ones) from which
    :func:`weaklesion.models.registry.build_model` rebuilds the same architecture.
    """

    name: str = ""

    def __init__(self, **config: Any):
        super().__init__()
        self.config: dict[str, Any] = {"name": self.name, **config}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError


def deeplabv3plus(
    encoder: str,
    encoder_weights: str | os.PathLike | None,
    *,
    aux_params: dict[str, Any] | None = None,
) -> smp.DeepLabV3Plus:
    """smp's DeepLabV3+ with one output channel and smp's defaults otherwise (those of the
    paper: output stride 16, separable ASPP with rates 12/24/36, 256 decoder channels).

    ``encoder_weights``: None (random), an smp preset such as ``"imagenet"`` (downloads), or
    a local ``.pt``/``.pth`` encoder state dict (see :mod:`weaklesion.models.weights`).
    """
    check_encoder_name(encoder)
    from_file = encoder_weights is not None and is_weight_file(encoder_weights)
    if encoder_weights is not None and not from_file:
        check_weight_preset(encoder, encoder_weights)
    net = smp.DeepLabV3Plus(
        encoder_name=encoder,
        encoder_weights=None if from_file else encoder_weights,
        classes=1,
        aux_params=aux_params,
    )
    if from_file:
        load_encoder_weights(net.encoder, encoder_weights)
    return net


def weights_label(encoder_weights: str | os.PathLike | None) -> str | None:
    """How ``encoder_weights`` is recorded in a model's config (plain str for checkpoints)."""
    return None if encoder_weights is None else os.fspath(encoder_weights)


def positive_int(value: Any, key: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``; ConfigError naming config key ``key`` otherwise."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or number < minimum:
        raise ConfigError(f"{key}: expected an integer >= {minimum}, got {value!r}")
    return number
