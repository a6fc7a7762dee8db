"""The optimiser steps of training and the validation after each epoch.

A split is held on the device (:class:`Batches`), which builds the normalised canvas and the
targets of each batch. The mask loss is averaged as if over the paper's 384×480 canvas (scaled
by canvas area / paper canvas area), so that loss magnitudes, the mask-vs-cluster balance of
A1+L and ACoseg's gradient clipping behave the same under the ``compact`` geometry as under
``paper``. Validation compares predictions with the weak targets, never with ground truth.

How the steps are taken — eagerly, replayed as CUDA graphs, with ACoseg's pairs fused, through
a compiled network — is :class:`BatchSteps`' business, switched by ``gpus:``
(:mod:`weaklesion.training.fast_paths`); the steps themselves are the same.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import torch

from weaklesion.datasets.patch_store import as_levels
from weaklesion.models.canvas import canvas_shape, from_canvas, normalise, to_canvas
from weaklesion.splits.arrays import LesionArrays
from weaklesion.training.cuda_graphs import GraphedStep
from weaklesion.training.fast_paths import FastPaths
from weaklesion.training.fused_passes import pair_outputs
from weaklesion.training.losses import compute_loss, coseg_pairs
from weaklesion.training.precision import autocast
from weaklesion.training.settings import TrainSettings

PAPER_CANVAS_PIXELS = 384 * 480


class Batches:
    """A split held on the device; builds normalised canvases and targets for index batches."""

    def __init__(self, arrays: LesionArrays, settings: TrainSettings, device: torch.device):
        self.settings = settings
        self.device = device
        self.images = torch.from_numpy(arrays.images).to(device)
        self.masks = torch.from_numpy(as_levels(arrays.masks)).to(device)
        self.clusters = torch.from_numpy(arrays.clusters).to(device)

    def __len__(self) -> int:
        return len(self.images)

    def inputs(self, index: torch.Tensor) -> torch.Tensor:
        s = self.settings
        x = normalise(self.images[index], s.encoder, s.channel_order, channels_last=True)
        x = to_canvas(x, s.geometry, pad_mode=s.pad_mode)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def targets(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = self.masks[index][:, None].float() / 255
        return {"mask": to_canvas(mask, self.settings.geometry, pad_mode=self.settings.pad_mode),
                "cluster": self.clusters[index]}

    def binary_masks(self, index: torch.Tensor) -> torch.Tensor:
        """The targets binarised at one half, (N, 120, 120) bool."""
        return self.masks[index] >= 128


def mask_loss_scale(geometry: str) -> float:
    height, width = canvas_shape(geometry)
    return height * width / PAPER_CANVAS_PIXELS


def _scaled(terms: dict[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
    mask = terms["mask_loss"] * scale
    total = mask + terms["cluster_loss"] if "cluster_loss" in terms else mask
    return {**terms, "mask_loss": mask, "loss": total}


def _select(targets: dict[str, torch.Tensor], rows: slice) -> dict[str, torch.Tensor]:
    return {k: v[rows] for k, v in targets.items()}


def step_terms(model, name: str, x, targets, rows: tuple[slice, slice | None], scale: float,
               fused_pair: bool = False):
    """Loss terms of one optimiser step: the whole batch, or one ACoseg pair (a, b), whose two
    forward passes ``fused_pair`` runs as one (weaklesion.training.fused_passes)."""
    first, second = rows
    if second is None:
        return _scaled(compute_loss(name, model(x[first]), _select(targets, first)), scale)
    outputs = (pair_outputs(model, x, rows) if fused_pair
               else (model(x[first]), model(x[second])))
    return _scaled(compute_loss(name, outputs, (_select(targets, first),
                                                 _select(targets, second))), scale)


def _autocast_terms(precision: str, model, name: str, x, targets, rows, scale: float, *,
                    cache_enabled: bool = True, fused_pair: bool = False):
    with autocast(x.device, precision, cache_enabled=cache_enabled):
        return step_terms(model, name, x, targets, rows, scale, fused_pair)


def _step_rows(name: str, n: int) -> list[tuple[slice, slice | None]]:
    return list(coseg_pairs(n)) if name == "ACoseg" else [(slice(0, n), None)]


class BatchSteps:
    """The optimiser steps of one training batch (one, or one per ACoseg pair), taken the way
    ``fast`` says: eagerly or replayed from captured graphs (CUDA only), with or without
    fused ACoseg pairs, through ``network`` (the model, or the model compiled)."""

    def __init__(self, model, network, optimizer, settings: TrainSettings, fast: FastPaths,
                 device: torch.device):
        self.model, self.network, self.optimizer, self.settings = (model, network, optimizer,
                                                                    settings)
        self.graphs = fast.graphs_on(device)
        self.fused_pairs = fast.fused_pairs and settings.model == "ACoseg"
        self.scale = mask_loss_scale(settings.geometry)
        self.graphed: dict[tuple[int, int], GraphedStep] = {}  # (batch size, pair) → graph

    def __call__(self, x: torch.Tensor, targets: dict[str, torch.Tensor]
                 ) -> Iterator[dict[str, torch.Tensor]]:
        """Take the steps, yielding each one's loss terms (read them before the next: a
        replayed graph overwrites them)."""
        s = self.settings
        for pair, rows in enumerate(_step_rows(s.model, len(x))):
            if self.graphs:
                yield self._graphed((len(x), pair), rows)(x, targets)
                continue
            loss_terms = functools.partial(_autocast_terms, s.precision, self.network, s.model,
                                           x, targets, rows, self.scale,
                                           fused_pair=self.fused_pairs)
            yield optimiser_step(self.model, self.optimizer, loss_terms,
                                 grad_clip=s.schedule.grad_clip,
                                 accumulate_gradients=s.accumulate_gradients)

    def _graphed(self, key: tuple[int, int], rows) -> GraphedStep:
        """The captured step of one batch size and ACoseg pair, made on first use."""
        if key not in self.graphed:
            s = self.settings

            def loss_terms(x, targets):
                # Autocast's cast cache must be off in a captured graph.
                return _autocast_terms(s.precision, self.network, s.model, x, targets, rows,
                                       self.scale, cache_enabled=False,
                                       fused_pair=self.fused_pairs)
            self.graphed[key] = GraphedStep(self.network, self.optimizer, loss_terms,
                                            grad_clip=s.schedule.grad_clip,
                                            accumulate_gradients=s.accumulate_gradients)
        return self.graphed[key]


def dice_per_lesion(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice ×100 per lesion of (N, H, W) bool tensors; 100 when both are empty."""
    inter = (predicted & target).sum(dim=(1, 2)).float()
    total = (predicted.sum(dim=(1, 2)) + target.sum(dim=(1, 2))).float()
    return torch.where(total > 0, 200 * inter / total.clamp(min=1), torch.full_like(total, 100))


@torch.no_grad()
def validate(model, settings: TrainSettings, batches: Batches, scale: float,
             batch_size: int) -> dict[str, float]:
    """Mean loss terms and Dice against the weak targets over a split."""
    model.eval()
    # Sums stay on the device (float64, the arithmetic of Python floats): no wait for the
    # GPU after every batch.
    totals: dict[str, torch.Tensor] = {}
    dice = []
    for start in range(0, len(batches), batch_size):
        index = torch.arange(start, min(start + batch_size, len(batches)),
                             device=batches.device)
        x, targets = batches.inputs(index), batches.targets(index)
        with autocast(batches.device, settings.precision):
            outputs = model(x)
            if settings.model == "ACoseg":  # the pair loss of the batch paired with itself
                terms = compute_loss("ACoseg", (outputs, outputs), (targets, targets))
            else:
                terms = compute_loss(settings.model, outputs, targets)
        terms = _scaled(terms, scale)
        for key, value in terms.items():
            totals[key] = totals.get(key, 0.0) + value.detach().double() * len(index)
        logits = from_canvas(outputs["mask"].float(), settings.geometry)[:, 0]
        dice.append(dice_per_lesion(logits >= 0, batches.binary_masks(index)))
    metrics = {f"val_{k}": float(v) / len(batches) for k, v in totals.items()}
    metrics["val_dice"] = float(torch.cat(dice).mean())
    return metrics


def optimiser_step(model, optimizer, loss_terms, *, grad_clip: float | None = None,
                   accumulate_gradients: bool = False) -> dict[str, torch.Tensor]:
    """One optimiser step on the loss terms ``loss_terms()`` computes: clear the gradients
    (unless ``accumulate_gradients``), backward, clip the gradient norm to ``grad_clip``,
    step.

    ``accumulate_gradients`` is the released ACoseg (PROTOCOL item 11, a defect kept under
    ``protocol: paper``): it never called ``zero_grad``, so each step's gradient is added to
    the clipped sum of all before it, and the clip then bounds that running sum.
    """
    if not accumulate_gradients:
        optimizer.zero_grad(set_to_none=True)
    terms = loss_terms()
    terms["loss"].backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return terms
