"""medpy's ``hd`` and ``hd95`` for stacks of mask pairs, in one compiled loop (numba).

A mask's surface is the mask minus its erosion by the 4-connected cross, pixels outside the
image counting as background. From every surface pixel of each mask the distance to the
nearest surface pixel of the other is taken; ``hd`` is the largest of all of them, ``hd95``
the 95th percentile (numpy's default linear interpolation) of both directions pooled.

Distances are searched as integer squared lengths, nearest offsets first, and the square root
is taken once at the end, as the exact distance transform of the reference does, so the
values are the reference's bit for bit.
"""

from __future__ import annotations

import functools

import numpy as np

from weaklesion.evaluation.jit import kernel

_PERCENTILE = 95.0
# Nearest surface pixels up to this far are found by trying offsets shortest first; farther
# ones by comparing all target pixels. Bounds the look-up table and the padded maps whatever
# the image size.
_SEARCH_RADIUS = 64


def hausdorff_distances(
    gt: np.ndarray, pred: np.ndarray, gt_box: np.ndarray, pred_box: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(hd, hd95)`` of each pair of boolean ``(N, H, W)`` masks; NaN where either is empty.

    ``gt_box``/``pred_box`` are each mask's inclusive ``(row_min, row_max, col_min, col_max)``
    bounding box, -1 when the mask is empty.
    """
    steps, step_sq = _steps_by_length(gt.shape[2] + 2 * _SEARCH_RADIUS)
    return _hausdorff_stack(gt, pred, gt_box, pred_box, steps, step_sq, _SEARCH_RADIUS,
                            _PERCENTILE)


@functools.lru_cache(maxsize=4)
def _steps_by_length(padded_width: int) -> tuple[np.ndarray, np.ndarray]:
    """The offsets no longer than :data:`_SEARCH_RADIUS`, as flat steps in a surface map
    ``padded_width`` wide, with their squared lengths; shortest first."""
    reach = _SEARCH_RADIUS
    drow, dcol = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    drow, dcol = drow.ravel(), dcol.ravel()
    sq = drow * drow + dcol * dcol
    inside = np.flatnonzero(sq <= reach * reach)
    order = inside[np.argsort(sq[inside], kind="stable")]
    return drow[order] * padded_width + dcol[order], sq[order]


@kernel
def _hausdorff_stack(gt, pred, gt_box, pred_box, steps, step_sq, reach, percentile):
    n, height, width = gt.shape
    hd = np.full(n, np.nan)
    hd95 = np.full(n, np.nan)
    # Surface maps padded by the search radius on every side, so that any step from a pixel
    # of the image lands inside the map and needs no bounds check.
    padded_width = width + 2 * reach
    gt_surface = np.zeros((height + 2 * reach) * padded_width, dtype=np.bool_)
    pred_surface = np.zeros((height + 2 * reach) * padded_width, dtype=np.bool_)
    gt_points = np.empty(height * width, dtype=np.int64)
    pred_points = np.empty(height * width, dtype=np.int64)
    sq = np.empty(2 * height * width, dtype=np.int64)
    for k in range(n):
        if gt_box[k, 0] < 0 or pred_box[k, 0] < 0:
            continue
        n_gt = _surface(gt[k], gt_box[k], reach, gt_surface, gt_points)
        n_pred = _surface(pred[k], pred_box[k], reach, pred_surface, pred_points)
        _nearest(gt_points, n_gt, pred_surface, pred_points, n_pred, steps, step_sq,
                 padded_width, sq, 0)
        _nearest(pred_points, n_pred, gt_surface, gt_points, n_gt, steps, step_sq,
                 padded_width, sq, n_gt)
        hd[k], hd95[k] = _max_and_percentile(sq[: n_gt + n_pred], percentile)
        gt_surface[gt_points[:n_gt]] = False
        pred_surface[pred_points[:n_pred]] = False
    return hd, hd95


@kernel
def _surface(mask, box, reach, surface, points):
    """Mark the surface pixels inside ``box`` in the map padded by ``reach`` and list their
    positions there, in C order; returns their count."""
    height, width = mask.shape
    padded_width = width + 2 * reach
    count = 0
    for r in range(box[0], box[1] + 1):
        for c in range(box[2], box[3] + 1):
            if not mask[r, c]:
                continue
            inner = (0 < r < height - 1 and 0 < c < width - 1
                     and mask[r - 1, c] and mask[r + 1, c] and mask[r, c - 1] and mask[r, c + 1])
            if not inner:
                position = (r + reach) * padded_width + c + reach
                surface[position] = True
                points[count] = position
                count += 1
    return count


@kernel
def _nearest(source, n_source, target, target_points, n_target, steps, step_sq, padded_width,
             out, start):
    """Squared distance from each source point to the nearest target pixel, into ``out``.

    Steps are tried shortest first, so the first hit is the answer. A point that finds no
    target within :data:`_SEARCH_RADIUS`, or within a few times as many steps as there are
    target points, compares all of them instead.
    """
    budget = min(len(steps), max(4 * n_target, 64))
    for p in range(n_source):
        position = source[p]
        best = -1
        for o in range(budget):
            if target[position + steps[o]]:
                best = step_sq[o]
                break
        if best < 0:
            row, col = divmod(position, padded_width)
            for q in range(n_target):
                target_row, target_col = divmod(target_points[q], padded_width)
                d = (target_row - row) ** 2 + (target_col - col) ** 2
                if best < 0 or d < best:
                    best = d
        out[start + p] = best


@kernel
def _max_and_percentile(sq, percentile):
    """Largest distance, and ``np.percentile(distances, percentile)`` operation for operation."""
    distance = np.sqrt(np.sort(sq).astype(np.float64))  # sqrt keeps the order
    count = len(distance)
    virtual = (count - 1) * (percentile / 100.0)
    previous = np.floor(virtual)
    gamma = virtual - previous
    below = int(previous)
    lower = distance[below]
    upper = distance[min(below + 1, count - 1)]
    diff = upper - lower
    value = upper - diff * (1 - gamma) if gamma >= 0.5 else lower + diff * gamma
    return distance[count - 1], value
