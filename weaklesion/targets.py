"""Stage 3: the training targets — filled-ellipse pseudo-masks, and their GrabCut refinement.

``targets.h5`` holds the ellipse masks rasterised with OpenCV from the parameters fitted in
stage 2; ``ellipses.parquet`` holds those parameters with how well each ellipse covers its
ground-truth mask. ``grabcut.h5`` is made only where it is needed: as the training target under
``target: grabcut``, and as DeepLesion's evaluation target (it has no ground-truth masks).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from weaklesion import PATCH_SIZE
from weaklesion.atomic import atomic_path
from weaklesion.h5store import BLOCK, mask_store, read_arrays, read_table, write_masks
from weaklesion.parallel import WorkerPool
from weaklesion.recist import ELLIPSE_COLUMNS, Ellipse, grabcut_target, rasterise_ellipse


def ellipse_masks(ellipses: np.ndarray) -> np.ndarray:
    """(N, 5) ellipse parameters → (N, 120, 120) bool filled ellipses."""
    shape = (PATCH_SIZE, PATCH_SIZE)
    masks = np.zeros((len(ellipses), *shape), dtype=bool)
    for i, params in enumerate(ellipses):
        masks[i] = rasterise_ellipse(Ellipse(*map(float, params)), shape)
    return masks


def ellipse_table(table: pd.DataFrame, ellipse: np.ndarray, masks: np.ndarray | None):
    """Ellipse parameters per lesion, with Dice/IoU of the filled ellipse against the mask."""
    out = table[["lesion_id", *ELLIPSE_COLUMNS]].copy()
    if masks is not None:
        inter = np.logical_and(ellipse, masks).sum(axis=(1, 2))
        total = ellipse.sum(axis=(1, 2)) + masks.sum(axis=(1, 2))
        out["target_iou"] = 100 * inter / np.maximum(total - inter, 1)
        out["target_dice"] = 100 * 2 * inter / np.maximum(total, 1)
    return out


def write_ellipse_targets(data_h5: Path, ellipses_parquet: Path, targets_h5: Path) -> pd.DataFrame:
    """Rasterise, score and store the ellipse targets block by block, so that memory stays
    flat however many lesions there are."""
    table = read_table(data_h5)
    params = table[ELLIPSE_COLUMNS].to_numpy(np.float32)
    parts = []
    with h5py.File(data_h5, "r") as data, \
            mask_store(targets_h5, "ellipse", table["lesion_id"]) as stored:
        truth = data.get("mask")
        for start in range(0, len(table), BLOCK):
            rows = slice(start, start + BLOCK)
            masks = ellipse_masks(params[rows])
            stored[start : start + len(masks)] = masks
            parts.append(ellipse_table(table.iloc[rows], masks,
                                       None if truth is None else truth[rows]))
    summary = pd.concat(parts, ignore_index=True)
    with atomic_path(ellipses_parquet, suffix=".parquet") as tmp:
        summary.to_parquet(tmp, index=False)
    return summary


def _grabcut_one(args: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return grabcut_target(*args)


def _init_grabcut_worker() -> None:
    cv2.setNumThreads(1)


def grabcut_masks(images: np.ndarray, ellipse: np.ndarray, workers: int = 1) -> np.ndarray:
    """GrabCut of every ellipse, in parallel over ``workers`` processes, with a progress bar."""
    jobs = zip(images, ellipse, strict=True)
    progress = dict(total=len(images), desc="grabcut", unit="lesion", file=sys.stderr,
                    mininterval=1.0 if sys.stderr.isatty() else 10.0)
    if workers <= 1:
        return np.stack([_grabcut_one(job) for job in tqdm(jobs, **progress)])
    chunksize = max(1, min(64, len(images) // (workers * 8)))
    with WorkerPool(workers, _init_grabcut_worker) as pool:
        return np.stack(list(tqdm(pool.imap(_grabcut_one, jobs, chunksize), **progress)))


def write_grabcut_targets(data_h5: Path, targets_h5: Path, grabcut_h5: Path,
                          workers: int = 1) -> None:
    images = read_arrays(data_h5, ["image"])["image"]
    stored = read_arrays(targets_h5, ["ellipse", "lesion_id"])
    refined = grabcut_masks(images, stored["ellipse"], workers)
    write_masks(grabcut_h5, "grabcut", refined, [i.decode() for i in stored["lesion_id"]])
