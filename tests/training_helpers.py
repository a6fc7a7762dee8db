"""Small synthetic lesion sets for the training, evaluation, prediction and CLI tests.

Each lesion is a 120×120 RGB patch: a dark disc on a light, slightly noisy background. The
weak target is the disc itself, and the cluster label (0..2) is the disc's size class, so
every task the models learn has a real signal in the images.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch

from weaklesion import PATCH_SIZE
from weaklesion.datasets.base import Lesion, WeakLabel
from weaklesion.datasets.patch_store import PatchWriter, write_attrs, write_masks
from weaklesion.models.registry import build_model
from weaklesion.splits.arrays import LesionArrays
from weaklesion.training.checkpoints import save_checkpoint
from weaklesion.training.loop import train
from weaklesion.training.schedules import Schedule
from weaklesion.training.settings import TrainSettings

N_CLUSTERS = 3
RADII = (14, 22, 30)  # one disc size per cluster
SPLIT_SIZES = {"train": 8, "val": 4, "test": 4}
# Small enough for a 2-core CPU: 2 optimiser steps per epoch on the 8 training lesions.
TINY_SCHEDULE = Schedule(lr=1e-3, batch_size=4, epochs=2, patience=5, monitor="val_mask_loss")


def disc(center: tuple[float, float], radius: float, size: int = PATCH_SIZE) -> np.ndarray:
    """(size, size) bool disc; ``center`` is (row, col)."""
    rows, cols = np.mgrid[:size, :size]
    return (rows - center[0]) ** 2 + (cols - center[1]) ** 2 <= radius**2


def disc_image(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A light skin-coloured background with the masked region dark, plus mild noise."""
    background = np.array([225, 190, 170], dtype=np.float64)
    lesion = np.array([90, 55, 45], dtype=np.float64)
    image = np.where(mask[..., None], lesion, background)
    image = image + rng.normal(0, 6, size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def synthetic_lesions(n: int, seed: int = 0, prefix: str = "LES") -> LesionArrays:
    """``n`` disc lesions with random centres and one of three sizes (the cluster)."""
    rng = np.random.default_rng(seed)
    clusters = np.arange(n, dtype=np.int64) % N_CLUSTERS
    rng.shuffle(clusters)
    images, masks = [], []
    for cluster in clusters:
        radius = RADII[cluster]
        center = rng.uniform(radius + 4, PATCH_SIZE - radius - 4, size=2)
        mask = disc(tuple(center), radius)
        masks.append(mask)
        images.append(disc_image(mask, rng))
    ids = np.array([f"{prefix}_{i:04d}" for i in range(n)])
    return LesionArrays(ids, np.stack(images), np.stack(masks), clusters)


def subset(arrays: LesionArrays, rows) -> LesionArrays:
    return LesionArrays(arrays.lesion_ids[rows], arrays.images[rows], arrays.masks[rows],
                        arrays.clusters[rows])


def synthetic_splits(sizes: dict[str, int] | None = None, seed: int = 0
                     ) -> dict[str, LesionArrays]:
    """Disjoint train / val / test sets of the sizes given (default :data:`SPLIT_SIZES`)."""
    sizes = sizes or SPLIT_SIZES
    lesions = synthetic_lesions(sum(sizes.values()), seed)
    result, start = {}, 0
    for name, count in sizes.items():
        result[name] = subset(lesions, slice(start, start + count))
        start += count
    return result


def tiny_settings(model: str = "A1", **changes) -> TrainSettings:
    """Settings of a fast CPU run: resnet18 without pretrained weights, compact canvas."""
    schedule = dataclasses.replace(TINY_SCHEDULE, **changes.pop("schedule", {}))
    defaults = dict(model=model, encoder="resnet18", encoder_weights=None,
                    num_clusters=N_CLUSTERS, geometry="compact", channel_order="rgb",
                    pad_mode="zero", schedule=schedule, seed=0, protocol="corrected",
                    deterministic=True)
    return TrainSettings(**{**defaults, **changes})


def write_stage_files(folder: Path, lesions: LesionArrays, split: list[str]) -> dict[str, Path]:
    """The stage outputs training reads, in their on-disk formats: ``data.h5`` (patches and
    ground truth), ``targets.h5`` (ellipse targets), ``clusters.parquet`` and ``split.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"data": folder / "data.h5", "targets": folder / "targets.h5",
             "clusters": folder / "clusters.parquet", "split": folder / "split.csv"}
    with h5py.File(paths["data"], "w") as h5:
        write_attrs(h5, fmt="demo", dataset="synthetic", settings={"protocol": "corrected"})
        writer = PatchWriter(h5, has_masks=True, has_recist=False)
        for lesion_id, image, mask in zip(lesions.lesion_ids, lesions.images, lesions.masks,
                                          strict=True):
            lesion = Lesion(lesion_id=str(lesion_id), group_id=f"G_{lesion_id}",
                            source=f"{lesion_id}.jpg", image=image, mask=mask)
            zeros = np.zeros(5, np.float32)
            writer.append(lesion, WeakLabel(zeros, zeros, (120, 120), 1.0))
        writer.close()
    write_masks(paths["targets"], "ellipse", lesions.masks, [str(i) for i in lesions.lesion_ids])
    pd.DataFrame({"lesion_id": lesions.lesion_ids.astype(str),
                  "cluster": lesions.clusters}).to_parquet(paths["clusters"], index=False)
    pd.DataFrame({"lesion_id": lesions.lesion_ids.astype(str),
                  "group_id": [f"G_{i}" for i in lesions.lesion_ids],
                  "split": split}).to_csv(paths["split"], index=False)
    return paths


def split_labels(sizes: dict[str, int] | None = None) -> list[str]:
    """The split column for lesions laid out as :func:`synthetic_splits` lays them out."""
    sizes = sizes or SPLIT_SIZES
    return [name for name, count in sizes.items() for _ in range(count)]


def save_model(path: Path, settings: TrainSettings, init_seed: int = 0) -> Path:
    """An untrained network saved as training saves ``model.pt`` (its settings in ``extra``),
    for tests that need a model file but not a trained one."""
    torch.manual_seed(init_seed)
    model = build_model(settings.model, encoder=settings.encoder,
                        encoder_weights=settings.encoder_weights,
                        num_clusters=settings.num_clusters)
    return save_checkpoint(path, model, epoch=1, extra={"settings": settings.as_dict(),
                                                        "fingerprint": "untrained"})


def train_tiny_model(out: Path, model: str = "A1", epochs: int = 1) -> Path:
    """``model.pt`` of a short real training run on :func:`synthetic_splits` (CPU)."""
    settings = tiny_settings(model, schedule={"epochs": epochs})
    train(settings, synthetic_splits(), out_model=out / "model.pt",
          out_history=out / "history.csv", checkpoint_dir=out / "checkpoints",
          fingerprint="tiny", device=torch.device("cpu"))
    return out / "model.pt"


def update_difference(initial: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
                      reference: dict[str, torch.Tensor]) -> float:
    """‖(state − initial) − (reference − initial)‖ / ‖reference − initial‖ over every float
    parameter and buffer of three state dicts: how far one training's change of the weights
    is from another's. Adam turns rounding of the gradients into differences of this kind."""
    floats = [name for name, value in reference.items() if value.is_floating_point()]
    apart = sum(float(((state[n].double() - reference[n].double()) ** 2).sum()) for n in floats)
    moved = sum(float(((reference[n].double() - initial[n].double()) ** 2).sum())
                for n in floats)
    return (apart / moved) ** 0.5


def initial_state(settings: TrainSettings) -> dict[str, torch.Tensor]:
    """The weights a training run with ``settings`` starts from."""
    torch.manual_seed(settings.seed)
    return build_model(settings.model, encoder=settings.encoder,
                       encoder_weights=settings.encoder_weights,
                       num_clusters=settings.num_clusters).state_dict()
