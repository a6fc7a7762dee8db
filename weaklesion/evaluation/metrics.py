"""The paper's per-lesion metrics, computed for a whole stack of masks at once.

Each lesion is scored in pixels on its own window (120×120 in the paper, any H×W works):

- ``iou``, ``dice``, ``vs`` (volumetric similarity, 1 − |FN − FP| / (2TP + FP + FN)), in percent;
- ``center_error``: distance between the centres of the two masks' bounding boxes;
- ``perimeter_error``: |Canny edge pixels of GT − those of the prediction| / 2, with edges exactly
  as the paper's released code finds them: ``skimage.feature.canny(mask, low_threshold=1,
  high_threshold=1)`` of the uint8 0/1 mask under scikit-image 0.18.1 (not the default
  arguments on a bool mask, which count differently on about a third of lesion masks);
- ``hausdorff`` and ``hd95``: medpy's ``hd`` and ``hd95`` — distances between the *surface*
  pixels of the two masks (mask minus its erosion by the 4-connected cross, pixels outside the
  window counting as background); the maximum of both directed maxima, and the 95th percentile
  (numpy's default linear interpolation) of both directions' distances pooled.

Corner cases, decided here because the paper is silent on them:

- An empty prediction scores 0 in ``iou``/``dice``/``vs`` (the formulas give that) and, as in
  the paper, the largest ``center_error``/``hausdorff``/``hd95`` seen on the same test set over
  non-empty predictions. When no prediction of the set is non-empty, the window diagonal
  ``hypot(H - 1, W - 1)`` (the largest distance two pixels of the window can have) is used.
  ``perimeter_error`` needs no rule: an empty mask has no edges, so it is half the GT's edge
  count.
- An empty GT leaves nothing to score: every metric of that lesion is NaN (``gt_empty`` is
  True), so pandas' NaN-skipping means average over the lesions that have a GT.

The values equal the per-image references (scikit-image 0.18.1's Canny, scipy's distance
transform, ``np.percentile``) exactly, not approximately: the compiled kernels of
:mod:`weaklesion.evaluation.canny` and :mod:`weaklesion.evaluation.surface_distances`
repeat every floating-point step of the references in the same order, looking only at each
mask's bounding box and what the filters reach from it. On the released code's own outputs
for 300 lesions (``tests/data/paper_metric_vectors.npz``) the edge maps are identical and the
other columns agree to 1e-13.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from weaklesion.errors import WeaklesionError
from weaklesion.evaluation import canny
from weaklesion.evaluation.surface_distances import hausdorff_distances

METRIC_COLUMNS = [
    "iou",
    "dice",
    "vs",
    "center_error",
    "perimeter_error",
    "hausdorff",
    "hd95",
]
"""Metric columns of :func:`lesion_metrics`, in the paper's table order."""

PAPER_METRICS = ("iou", "dice", "vs", "center_error", "perimeter_error", "hausdorff")
"""The columns of the paper's table, in its order (``hd95`` is ours, not the paper's)."""

METRIC_LABELS = {
    "iou": "IoU",
    "dice": "Dice",
    "vs": "VS",
    "center_error": "Centre error",
    "perimeter_error": "Perimeter error",
    "hausdorff": "Hausdorff",
}
"""How the tables head the :data:`PAPER_METRICS` (``hausdorff`` is the paper's AVD)."""

LOWER_IS_BETTER = frozenset({"center_error", "perimeter_error", "hausdorff", "hd95"})
"""Metrics where a smaller value is better; for the others larger is better."""

EMPTY_PREDICTION_COLUMNS = ("center_error", "hausdorff", "hd95")
"""Columns that an empty prediction takes from the worst non-empty prediction of its set."""

def lesion_metrics(gt, pred, *, fill_empty: bool = True) -> pd.DataFrame:
    """Score each predicted mask against its GT mask; one row per lesion.

    ``gt`` and ``pred`` are stacks ``(N, H, W)`` of bool or 0/1 masks. Returns the
    :data:`METRIC_COLUMNS` (iou/dice/vs in percent, distances in pixels) then ``pred_empty``
    and ``gt_empty``. The stack is the test set of the empty-prediction rule; pass
    ``fill_empty=False`` to leave those cells NaN and apply :func:`fill_empty_predictions`
    once over a test set scored in parts.
    """
    gt = as_mask_stack(gt, "gt")
    pred = as_mask_stack(pred, "pred")
    if gt.shape != pred.shape:
        raise WeaklesionError(
            f"gt and pred must have the same shape, got gt {gt.shape} and pred {pred.shape}"
        )
    table = _raw_metrics(gt, pred)
    if fill_empty:
        table = fill_empty_predictions(table, window_diagonal(gt.shape[1:]))
    return table


def fill_empty_predictions(table: pd.DataFrame, fallback: float) -> pd.DataFrame:
    """Give empty predictions the largest value of the set in :data:`EMPTY_PREDICTION_COLUMNS`.

    The largest value is taken over lesions with a non-empty prediction and a non-empty GT;
    ``fallback`` (normally :func:`window_diagonal`) is used when there are none.
    """
    table = table.copy()
    scored = ~table["pred_empty"] & ~table["gt_empty"]
    empty = table["pred_empty"] & ~table["gt_empty"]
    for column in EMPTY_PREDICTION_COLUMNS:
        worst = table.loc[scored, column].max() if scored.any() else fallback
        table.loc[empty, column] = worst
    return table


def window_diagonal(shape: tuple[int, int]) -> float:
    """Largest distance between two pixels of an ``(H, W)`` window."""
    height, width = shape
    return math.hypot(height - 1, width - 1)


def as_mask_stack(masks, name: str) -> np.ndarray:
    """``masks`` as a boolean ``(N, H, W)`` array; anything but 0/1 values is an error."""
    array = np.asarray(masks)
    if array.ndim != 3 or 0 in array.shape[1:]:
        raise WeaklesionError(
            f"{name}: expected a stack of masks shaped (N, H, W), got shape {array.shape} "
            "(wrap a single mask as mask[None])"
        )
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise WeaklesionError(f"{name}: masks must be bool or 0/1 numbers, got {array.dtype}")
    bad = (array != 0) & (array != 1)
    if bad.any():
        lesion = int(np.argmax(bad.any(axis=(1, 2))))
        found = np.unique(array[lesion])[:10].tolist()
        raise WeaklesionError(f"{name}: masks must hold only 0 and 1; mask {lesion} holds {found}")
    return array != 0


# --- assembling the table ---------------------------------------------------------------------


def _raw_metrics(gt: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    gt_box = bounding_boxes(gt)
    pred_box = bounding_boxes(pred)
    gt_empty = gt_box[:, 0] < 0
    pred_empty = pred_box[:, 0] < 0
    columns = _overlap_scores(gt, pred)
    columns["center_error"] = _center_errors(gt_box, pred_box)
    gt_edges = canny.edge_counts(gt, gt_box)
    pred_edges = canny.edge_counts(pred, pred_box)
    columns["perimeter_error"] = np.abs(gt_edges - pred_edges) / 2
    columns["hausdorff"], columns["hd95"] = hausdorff_distances(gt, pred, gt_box, pred_box)

    table = pd.DataFrame({name: columns[name] for name in METRIC_COLUMNS})
    table.loc[gt_empty, METRIC_COLUMNS] = np.nan
    table["pred_empty"] = pred_empty
    table["gt_empty"] = gt_empty
    return table


def _overlap_scores(gt: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.count_nonzero(gt & pred, axis=(1, 2))
    fn = np.count_nonzero(gt, axis=(1, 2)) - tp
    fp = np.count_nonzero(pred, axis=(1, 2)) - tp
    union = tp + fp + fn
    total = 2 * tp + fp + fn  # |GT| + |pred|; 0 only where the GT is empty, which is not scored
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "iou": 100 * tp / union,
            "dice": 100 * (2 * tp) / total,
            "vs": 100 * (1 - np.abs(fn - fp) / total),
        }


def _center_errors(gt_box: np.ndarray, pred_box: np.ndarray) -> np.ndarray:
    # Box centres are (min + max) / 2 along each axis; the halves are compared doubled, which
    # keeps the sum of squares exact before the single rounding of the square root.
    drow = (gt_box[:, 0] + gt_box[:, 1]) - (pred_box[:, 0] + pred_box[:, 1])
    dcol = (gt_box[:, 2] + gt_box[:, 3]) - (pred_box[:, 2] + pred_box[:, 3])
    error = np.sqrt((drow * drow + dcol * dcol).astype(np.float64)) / 2
    error[(gt_box[:, 0] < 0) | (pred_box[:, 0] < 0)] = np.nan
    return error


# --- bounding boxes --------------------------------------------------------------------------


def bounding_boxes(masks: np.ndarray) -> np.ndarray:
    """Inclusive ``(row_min, row_max, col_min, col_max)`` per mask; -1 everywhere if empty."""
    boxes = np.full((masks.shape[0], 4), -1, dtype=np.int64)
    rows = masks.any(axis=2)
    cols = masks.any(axis=1)
    present = rows.any(axis=1)
    height, width = masks.shape[1:]
    boxes[present, 0] = rows[present].argmax(axis=1)
    boxes[present, 1] = height - 1 - rows[present, ::-1].argmax(axis=1)
    boxes[present, 2] = cols[present].argmax(axis=1)
    boxes[present, 3] = width - 1 - cols[present, ::-1].argmax(axis=1)
    return boxes
