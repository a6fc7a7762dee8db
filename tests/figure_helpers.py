"""Tiny but real inputs of the figure rules: one dataset's stage outputs and its runs.

A dataset holds a few synthetic lesions in three ellipse size classes; the workflow's own code
writes the files (``data.h5`` through :class:`PatchWriter`, ``targets.h5``/``ellipses.parquet``
through :func:`write_ellipse_targets`, ``clusters.parquet`` through :func:`cluster_ellipses`).
Each run (model × seed) has a ``history.csv`` shaped as training writes it, and predictions
(shifted copies of the reference) with their ``metrics.parquet`` and ``test_predictions.h5``.

``kind="ham"`` has ground-truth masks (an ellipse with a bump, so the fitted ellipse differs);
``kind="deeplesion"`` has none: RECIST endpoints, and a ``grabcut.h5`` reference that is a
small square in each lesion's centre, far from the ellipse outline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd

from weaklesion import PATCH_SIZE
from weaklesion.datasets.base import Lesion, WeakLabel
from weaklesion.datasets.patch_store import PatchWriter, write_attrs, write_masks
from weaklesion.ellipses.fitting import Ellipse, fit_ellipse_to_mask, mask_iou, rasterise_ellipse
from weaklesion.evaluation.metrics import lesion_metrics
from weaklesion.weak_labels.clusters import cluster_ellipses
from weaklesion.weak_labels.targets import write_ellipse_targets

N_LESIONS = 24
K = 3
MODELS = ("A1", "A1+L")
SEEDS = (0, 1)
WIDTHS = (14.0, 26.0, 40.0)  # one short axis per size class
SQUARE_HALF = 3  # half side of DeepLesion's stand-in GrabCut reference


@dataclass
class FigureInputs:
    root: Path
    kind: str
    data: Path
    targets: Path
    ellipses: Path
    clusters: Path
    centroids: Path
    split: Path
    reference: Path
    reference_name: str
    test_ids: list[str]
    runs: dict[tuple[str, int], Path] = field(default_factory=dict)

    def run_files(self, name: str, models=MODELS, seeds=SEEDS) -> list[str]:
        return [str(self.runs[(m, s)] / name) for m in models for s in seeds]


def ellipse_points(ellipse, count: int = 72) -> np.ndarray:
    """(count, 2) points (x, y) on the outline of an OpenCV-convention ellipse, computed from
    the definition: the ``width`` axis points along (cos a, sin a) with y growing downwards."""
    cx, cy, width, height, angle = (float(v) for v in ellipse)
    a = math.radians(angle)
    t = np.linspace(0, 2 * math.pi, count, endpoint=False)
    u, v = width / 2 * np.cos(t), height / 2 * np.sin(t)
    return np.stack([cx + u * math.cos(a) - v * math.sin(a),
                     cy + u * math.sin(a) + v * math.cos(a)], axis=1)


def synthetic_ellipses(n: int, rng: np.random.Generator) -> np.ndarray:
    sizes = np.arange(n) % len(WIDTHS)
    rng.shuffle(sizes)
    width = np.array(WIDTHS)[sizes] + rng.uniform(-1, 1, n)
    height = width * rng.uniform(1.2, 1.8, n)
    margin = height / 2 + 6
    cx = rng.uniform(margin, PATCH_SIZE - margin)
    cy = rng.uniform(margin, PATCH_SIZE - margin)
    angle = rng.uniform(0, 180, n)
    return np.stack([cx, cy, width, height, angle], axis=1)


def lesion_image(mask: np.ndarray, rng: np.random.Generator, grey: bool) -> np.ndarray:
    background = np.array([120, 120, 120] if grey else [225, 190, 170], dtype=np.float64)
    lesion = np.array([200, 200, 200] if grey else [110, 60, 50], dtype=np.float64)
    image = np.where(mask[..., None], lesion, background) + rng.normal(0, 5, (*mask.shape, 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def irregular_mask(ellipse: np.ndarray) -> np.ndarray:
    """The ellipse plus a round bump on its outline: a lesion the fitted ellipse only
    approximates."""
    mask = rasterise_ellipse(Ellipse(*map(float, ellipse)), (PATCH_SIZE, PATCH_SIZE))
    x, y = ellipse_points(ellipse, 4)[0]
    rows, cols = np.mgrid[:PATCH_SIZE, :PATCH_SIZE]
    return mask | ((rows - y) ** 2 + (cols - x) ** 2 <= (ellipse[2] / 3) ** 2)


def recist_of(ellipse: np.ndarray) -> np.ndarray:
    """RECIST endpoints (long axis, then short axis) of an ellipse, as DeepLesion stores them."""
    cx, cy, width, height, angle = (float(v) for v in ellipse)
    a = math.radians(angle)
    short = np.array([math.cos(a), math.sin(a)]) * width / 2
    long = np.array([-math.sin(a), math.cos(a)]) * height / 2
    centre = np.array([cx, cy])
    return np.array([centre - long, centre + long, centre - short, centre + short], np.float32)


def centre_squares(ellipses: np.ndarray) -> np.ndarray:
    masks = np.zeros((len(ellipses), PATCH_SIZE, PATCH_SIZE), dtype=bool)
    for mask, (cx, cy, *_) in zip(masks, ellipses, strict=True):
        col, row = round(cx), round(cy)
        mask[row - SQUARE_HALF:row + SQUARE_HALF + 1, col - SQUARE_HALF:col + SQUARE_HALF + 1] = 1
    return masks


def write_data(path: Path, kind: str, ids: list[str], ellipses: np.ndarray,
               rng: np.random.Generator) -> np.ndarray | None:
    """``data.h5`` as preprocessing writes it; returns the ground-truth masks (None for
    DeepLesion)."""
    has_masks = kind == "ham"
    masks = np.stack([irregular_mask(e) for e in ellipses]) if has_masks else None
    with h5py.File(path, "w") as h5:
        write_attrs(h5, fmt="ham10000" if has_masks else "deeplesion", dataset=kind,
                    settings={"protocol": "paper"})
        writer = PatchWriter(h5, has_masks=has_masks, has_recist=not has_masks)
        for i, lesion_id in enumerate(ids):
            if has_masks:
                image = lesion_image(masks[i], rng, grey=False)
                ellipse = fit_ellipse_to_mask(masks[i])
                lesion = Lesion(lesion_id, f"G{i // 2}", f"{lesion_id}.jpg", image, masks[i])
                iou = mask_iou(rasterise_ellipse(ellipse, masks[i].shape), masks[i])
                writer.append(lesion, WeakLabel(ellipse.as_array(), ellipse.as_array(),
                                                masks[i].shape, iou))
            else:
                filled = rasterise_ellipse(Ellipse(*map(float, ellipses[i])),
                                           (PATCH_SIZE, PATCH_SIZE))
                image = lesion_image(filled, rng, grey=True)
                lesion = Lesion(lesion_id, f"P{i // 2}", f"{lesion_id}.png", image,
                                recist=recist_of(ellipses[i]))
                params = ellipses[i].astype(np.float32)
                writer.append(lesion, WeakLabel(params, params, (PATCH_SIZE, PATCH_SIZE),
                                                float("nan")))
        writer.close()
    return masks


def shifted(masks: np.ndarray, shift: int) -> np.ndarray:
    """Each mask moved ``shift`` px right and down, and dilated for odd shifts."""
    moved = np.roll(masks, (shift, shift), axis=(1, 2))
    if shift % 2:
        kernel = np.ones((3, 3), np.uint8)
        moved = np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in moved])
    return moved


def history_table(model: str, seed: int) -> pd.DataFrame:
    """A ``history.csv`` of ``3 + seed`` epochs with the columns training writes."""
    epochs = np.arange(1, 4 + seed)
    scale = 100.0 if model == "A1" else 50.0
    table = {"epoch": epochs,
             "train_loss": scale / (epochs + seed), "train_mask_loss": scale / (epochs + seed)}
    if model == "A1+L":
        table["train_cluster_loss"] = 1.0 / epochs
    table.update(val_loss=scale / (epochs + seed) * 1.1, val_mask_loss=scale / (epochs + seed))
    if model == "A1+L":
        table["val_cluster_loss"] = 1.2 / epochs
    table.update(val_dice=60 + 10 * epochs / epochs[-1] + seed + (model == "A1+L") * 5,
                 seconds=1.5)
    return pd.DataFrame(table)


def write_figure_inputs(root: Path, kind: str = "ham", models=MODELS, seeds=SEEDS,
                        n: int = N_LESIONS, seed: int = 0) -> FigureInputs:
    """Every file the figure rules read, under ``root`` laid out as
    ``results/<dataset>/<protocol>``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    ids = [f"{kind}_{i:03d}" for i in range(n)]
    ellipses = synthetic_ellipses(n, rng)
    data = root / "data.h5"
    masks = write_data(data, kind, ids, ellipses, rng)
    targets, ellipses_parquet = root / "targets.h5", root / "ellipses.parquet"
    write_ellipse_targets(data, ellipses_parquet, targets)
    labels, centroids = cluster_ellipses(pd.read_parquet(ellipses_parquet), K, seed=0)
    labels.to_parquet(root / "clusters.parquet", index=False)
    centroids.to_csv(root / "centroids.csv", index=False)
    split = np.array(["train", "val", "test"])[[0 if i % 3 == 0 else (1 if i % 3 == 1 else 2)
                                                for i in range(n)]]
    pd.DataFrame({"lesion_id": ids, "group_id": [f"G{i // 2}" for i in range(n)],
                  "split": split}).to_csv(root / "split.csv", index=False)

    if masks is None:
        reference_masks, reference, reference_name = centre_squares(ellipses), \
            root / "grabcut.h5", "grabcut"
        write_masks(reference, "grabcut", reference_masks, ids)
    else:
        reference_masks, reference, reference_name = masks, data, "mask"
    test = np.flatnonzero(split == "test")
    inputs = FigureInputs(root, kind, data, targets, ellipses_parquet,
                          root / "clusters.parquet", root / "centroids.csv", root / "split.csv",
                          reference, reference_name, [ids[i] for i in test])
    for m, model in enumerate(models):
        for s in seeds:
            run = root / model / f"seed{s}"
            run.mkdir(parents=True)
            predicted = np.stack([shifted(reference_masks[i][None], (m + s + i) % 5)[0]
                                  for i in test])
            if (model, s) == (models[-1], seeds[-1]):
                predicted[0] = False  # one empty prediction, as real runs have
            table = lesion_metrics(reference_masks[test], predicted)
            table.insert(0, "lesion_id", inputs.test_ids)
            table.to_parquet(run / "metrics.parquet", index=False)
            write_masks(run / "test_predictions.h5", "prediction", predicted, inputs.test_ids)
            history_table(model, s).to_csv(run / "history.csv", index=False)
            inputs.runs[(model, s)] = run
    return inputs
