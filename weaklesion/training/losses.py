"""The paper's training losses, one function per model, each returning every term it adds.

``targets`` is a dict: ``"mask"``, float (N, 1, H, W) in {0, 1}, the same shape as the
``"mask"`` logits; ``"cluster"``, int64 (N,) cluster indices (A1+L only). Mask losses are
means over all pixels given (the reference computes them over the whole canvas). The
``"mask_loss"`` returned is already weighted, so ``loss == mask_loss + cluster_loss``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from weaklesion.errors import ConfigError
from weaklesion.models import MODEL_NAMES

A1_MASK_WEIGHT = 100.0
A1L_MASK_WEIGHT = 50.0
COSEG_SUB_BATCH = 4

Outputs = Mapping[str, torch.Tensor]


def a1_loss(outputs: Outputs, targets: Outputs) -> dict[str, torch.Tensor]:
    """100 × BCE-with-logits of the mask."""
    mask = A1_MASK_WEIGHT * _bce_with_logits(outputs["mask"], targets["mask"])
    return {"loss": mask, "mask_loss": mask}


def a1l_loss(outputs: Outputs, targets: Outputs) -> dict[str, torch.Tensor]:
    """50 × BCE-with-logits of the mask + cross-entropy of the cluster."""
    mask = A1L_MASK_WEIGHT * _bce_with_logits(outputs["mask"], targets["mask"])
    cluster_logits, cluster = outputs["cluster"], targets["cluster"]
    if cluster.shape != cluster_logits.shape[:1]:
        raise ValueError(
            f"cluster targets of shape {tuple(cluster.shape)} do not match cluster logits "
            f"of shape {tuple(cluster_logits.shape)}"
        )
    cluster_loss = F.cross_entropy(cluster_logits.float(), cluster.long())
    return {"loss": mask + cluster_loss, "mask_loss": mask, "cluster_loss": cluster_loss}


def coseg_loss(
    outputs_a: Outputs, targets_a: Outputs, outputs_b: Outputs, targets_b: Outputs
) -> dict[str, torch.Tensor]:
    """BCE on the sigmoid, summed over the two sub-batches of a pair (unweighted).

    Computed as the reference did (``BCELoss(sigmoid(logits))``), not with logits: the two
    agree except where the sigmoid saturates, where PyTorch clamps each log term at −100.
    """
    mask = _bce_on_sigmoid(outputs_a["mask"], targets_a["mask"]) + _bce_on_sigmoid(
        outputs_b["mask"], targets_b["mask"]
    )
    return {"loss": mask, "mask_loss": mask}


def coseg_pairs(batch_size: int, sub_batch: int = COSEG_SUB_BATCH) -> list[tuple[slice, slice]]:
    """Index pairs for ACoseg: the batch cut into sub-batches, each paired with the next.

    The last sub-batch pairs with the first, so a batch of 8 gives two pairs, (0:4, 4:8) and
    (4:8, 0:4), one optimiser step each, as in the reference. A single sub-batch pairs with
    itself; images beyond the last full sub-batch are not used.
    """
    count = batch_size // sub_batch if sub_batch >= 1 else 0
    if count < 1:
        raise ValueError(f"a batch of {batch_size} holds no sub-batch of {sub_batch}")
    halves = [slice(i * sub_batch, (i + 1) * sub_batch) for i in range(count)]
    return [(halves[i], halves[(i + 1) % count]) for i in range(count)]


def compute_loss(
    model_name: str,
    outputs: Outputs | Sequence[Outputs],
    targets: Outputs | Sequence[Outputs],
) -> dict[str, torch.Tensor]:
    """The loss terms of ``model_name``: ``{"loss": total, "mask_loss": ..., ["cluster_loss"]}``.

    For ACoseg, ``outputs`` and ``targets`` are pairs ``(a, b)`` (see :func:`coseg_pairs`).
    """
    if model_name == "A1":
        return a1_loss(outputs, targets)
    if model_name == "A1+L":
        return a1l_loss(outputs, targets)
    if model_name == "ACoseg":
        if not (_is_pair(outputs) and _is_pair(targets)):
            raise TypeError("ACoseg's loss takes a pair of outputs and a pair of targets")
        return coseg_loss(outputs[0], targets[0], outputs[1], targets[1])
    raise ConfigError(f"model: unknown model {model_name!r}; valid names are {list(MODEL_NAMES)}")


def _is_pair(value: object) -> bool:
    return isinstance(value, Sequence) and len(value) == 2


def _check_mask_shapes(logits: torch.Tensor, target: torch.Tensor) -> None:
    if logits.shape != target.shape:
        raise ValueError(
            f"mask targets of shape {tuple(target.shape)} do not match mask logits of "
            f"shape {tuple(logits.shape)}"
        )


def _bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    _check_mask_shapes(logits, target)
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def _bce_on_sigmoid(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    _check_mask_shapes(logits, target)
    # binary_cross_entropy refuses to run under autocast; compute it in float32 instead.
    with torch.autocast(device_type=logits.device.type, enabled=False):
        return F.binary_cross_entropy(torch.sigmoid(logits.float()), target.float())
