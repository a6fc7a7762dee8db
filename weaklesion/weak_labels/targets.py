"""Stage 3: the training targets — filled-ellipse pseudo-masks, and their GrabCut refinement.

``targets.h5`` holds the ellipse targets; ``ellipses.parquet`` the ellipse parameters with how
well each target covers its ground-truth mask. ``data.h5`` names how its targets are made
(attribute ``target_recipe``, :mod:`weaklesion.ellipses.drawing`): ``exact`` under
``protocol: corrected``, or the released recipe of its format under ``protocol: paper``,
drawn with matplotlib on the frame the ellipse was fitted in, then resized to 120×120 with
nearest neighbour.

Targets are stored as bool masks, or, where the released targets were soft (LiTS), as uint8
levels (value / 255 is the target). ``grabcut.h5`` is made only where it is needed: as the
training target under ``target: grabcut``, and as the evaluation reference of a dataset
without masks (DeepLesion); under ``paper`` with the released GrabCut (PROTOCOL item 2).
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
from weaklesion.datasets.patch_store import (
    BLOCK,
    as_levels,
    mask_store,
    read_arrays,
    read_table,
    store_attrs,
    write_masks,
)
from weaklesion.ellipses.drawing import EXACT_RECIPE, RELEASED_RECIPES, draw_released_target
from weaklesion.ellipses.fitting import ELLIPSE_COLUMNS, Ellipse, rasterise_ellipse
from weaklesion.utilities.atomic import atomic_path
from weaklesion.utilities.worker_pool import optional_pool
from weaklesion.weak_labels.grabcut import grabcut_target, released_grabcut


def ellipse_masks(ellipses: np.ndarray) -> np.ndarray:
    """(N, 5) ellipse parameters → (N, 120, 120) bool filled ellipses."""
    shape = (PATCH_SIZE, PATCH_SIZE)
    masks = np.zeros((len(ellipses), *shape), dtype=bool)
    for i, params in enumerate(ellipses):
        masks[i] = rasterise_ellipse(Ellipse(*map(float, params)), shape)
    return masks


def ellipse_table(table: pd.DataFrame, ellipse: np.ndarray, masks: np.ndarray | None):
    """Ellipse parameters per lesion, with Dice/IoU of the target (binarised at one half)
    against the mask."""
    out = table[["lesion_id", *ELLIPSE_COLUMNS]].copy()
    if masks is not None:
        target = as_levels(ellipse) >= 128
        inter = np.logical_and(target, masks).sum(axis=(1, 2))
        total = target.sum(axis=(1, 2)) + masks.sum(axis=(1, 2))
        out["target_iou"] = 100 * inter / np.maximum(total - inter, 1)
        out["target_dice"] = 100 * 2 * inter / np.maximum(total, 1)
    return out


def _released_target_job(job: tuple[str, np.ndarray, np.ndarray]) -> np.ndarray:
    recipe, ellipse, frame = job
    return draw_released_target(recipe, ellipse, tuple(frame))


def _init_render_worker() -> None:
    cv2.setNumThreads(1)


def _progress(total: int, desc: str) -> dict:
    return dict(total=total, desc=desc, unit="lesion", file=sys.stderr,
                mininterval=1.0 if sys.stderr.isatty() else 10.0)


def write_ellipse_targets(data_h5: Path, ellipses_parquet: Path, targets_h5: Path,
                          workers: int = 1) -> pd.DataFrame:
    """Make, score and store the ellipse targets block by block, so that memory stays flat
    however many lesions there are; released renderings in ``workers`` processes."""
    recipe = target_recipe(data_h5)
    table = read_table(data_h5)
    if recipe == EXACT_RECIPE:
        params = table[ELLIPSE_COLUMNS].to_numpy(np.float32)
        dtype = bool
    else:
        stored = read_arrays(data_h5, ["target_ellipse", "target_frame"])
        params, frames = stored["target_ellipse"], stored["target_frame"]
        dtype = np.uint8 if RELEASED_RECIPES[recipe].threshold is None else bool
    parts = []
    with optional_pool(workers if recipe != EXACT_RECIPE else 1) as pool, \
            h5py.File(data_h5, "r") as data, \
            mask_store(targets_h5, "ellipse", table["lesion_id"], dtype=dtype) as stored_masks:
        stored_masks.attrs["recipe"] = recipe
        truth = data.get("mask")
        progress = tqdm(**_progress(len(table), f"targets ({recipe})"))
        for start in range(0, len(table), BLOCK):
            rows = slice(start, start + BLOCK)
            if recipe == EXACT_RECIPE:
                masks = ellipse_masks(params[rows])
            else:
                jobs = [(recipe, p, f) for p, f in zip(params[rows], frames[rows], strict=True)]
                drawn = (pool.imap(_released_target_job, jobs, 8) if pool is not None
                         else map(_released_target_job, jobs))
                levels = np.stack(list(drawn))
                masks = levels >= 128 if dtype is bool else levels
            stored_masks[start : start + len(masks)] = masks
            parts.append(ellipse_table(table.iloc[rows], masks,
                                       None if truth is None else truth[rows]))
            progress.update(len(masks))
        progress.close()
    summary = pd.concat(parts, ignore_index=True)
    with atomic_path(ellipses_parquet, suffix=".parquet") as tmp:
        summary.to_parquet(tmp, index=False)
    return summary


def target_recipe(data_h5: Path) -> str:
    """How ``data.h5``'s targets are made (see the module docstring)."""
    recipe = store_attrs(data_h5).get("target_recipe", EXACT_RECIPE)
    if recipe != EXACT_RECIPE and recipe not in RELEASED_RECIPES:
        raise ValueError(f"{data_h5}: unknown target recipe {recipe!r}")
    return recipe


def _grabcut_one(args: tuple[bool, np.ndarray, np.ndarray]) -> np.ndarray:
    released, image, ellipse = args
    return (released_grabcut if released else grabcut_target)(image, ellipse)


def grabcut_masks(images: np.ndarray, ellipse: np.ndarray, workers: int = 1, *,
                  released: bool = False) -> np.ndarray:
    """GrabCut of every ellipse (the released GrabCut if ``released``), in parallel over
    ``workers`` processes, with a progress bar."""
    jobs = ((released, image, mask) for image, mask in zip(images, ellipse, strict=True))
    chunksize = max(1, min(64, len(images) // (workers * 8)))
    with optional_pool(workers, _init_render_worker) as pool:
        results = pool.imap(_grabcut_one, jobs, chunksize) if pool else map(_grabcut_one, jobs)
        return np.stack(list(tqdm(results, **_progress(len(images), "grabcut"))))


def write_grabcut_targets(data_h5: Path, targets_h5: Path, grabcut_h5: Path,
                          workers: int = 1) -> None:
    """GrabCut of each ellipse target (binarised at one half), the released one where the
    targets were drawn as released (``protocol: paper``)."""
    images = read_arrays(data_h5, ["image"])["image"]
    stored = read_arrays(targets_h5, ["ellipse", "lesion_id"])
    refined = grabcut_masks(images, as_levels(stored["ellipse"]) >= 128, workers,
                            released=target_recipe(data_h5) != EXACT_RECIPE)
    write_masks(grabcut_h5, "grabcut", refined, [i.decode() for i in stored["lesion_id"]])
