"""The paper's per-lesion metrics, computed for a whole stack of masks at once.

Each lesion is scored in pixels on its own window (120×120 in the paper, any H×W works):

- ``iou``, ``dice``, ``vs`` (volumetric similarity, 1 − |FN − FP| / (2TP + FP + FN)), in percent;
- ``center_error``: distance between the centres of the two masks' bounding boxes;
- ``perimeter_error``: |Canny edge pixels of GT − those of the prediction| / 2, with edges exactly
  as ``skimage.feature.canny(mask)`` (default arguments) finds them on the boolean mask;
- ``hausdorff`` and ``hd95``: medpy's ``hd`` and ``hd95`` — distances between the *surface*
  pixels of the two masks (mask minus its erosion by the 4-connected cross, pixels outside the
  window counting as background); the maximum of both directed maxima, and the 95th percentile
  (numpy's default linear interpolation) of both directions' distances pooled.

Corner cases, decided here because the paper is silent on them:

- An empty prediction scores 0 in ``iou``/``dice``/``vs`` (the formulas give that) and, as in
  the paper, the largest ``center_error``/``hausdorff``/``hd95`` seen on the same test set over
  non-empty predictions. When no prediction of the set is non-empty, the window diagonal
  ``hypot(H - 1, W - 1)`` (the largest distance two pixels of the window can have) is used.
  ``perimeter_error`` needs no rule: it is half the GT's edge count.
- An empty GT leaves nothing to score: every metric of that lesion is NaN (``gt_empty`` is
  True), so pandas' NaN-skipping means average over the lesions that have a GT.

The values equal the per-image references (skimage's Canny, scipy's distance transform,
``np.percentile``) exactly, not approximately: each lesion is cut to a window around both
masks (with a margin wide enough that no filter sees the cut), windows of equal size are
stacked, and every floating-point step repeats the reference's operations in the same order.
(A build of scikit-image compiled with fused multiply-add, as some ARM builds are, rounds its
non-maximum suppression differently; there a rare tie can flip one edge pixel.)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.ndimage as ndi
from scipy.spatial import cKDTree

from weaklesion.errors import WeaklesionError

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

LOWER_IS_BETTER = frozenset({"center_error", "perimeter_error", "hausdorff", "hd95"})
"""Metrics where a smaller value is better; for the others larger is better."""

EMPTY_PREDICTION_COLUMNS = ("center_error", "hausdorff", "hd95")
"""Columns that an empty prediction takes from the worst non-empty prediction of its set."""

# skimage.feature.canny defaults. Its Cython non-maximum suppression takes the low threshold
# as a C float, so 0.1 is compared as float32(0.1); the high threshold stays a double.
_CANNY_SIGMA = 1.0
_CANNY_TRUNCATE = 4.0
_CANNY_LOW = float(np.float32(0.1))
_CANNY_HIGH = 0.2

# Margin around a lesion's masks that keeps every filter of the pipeline from seeing the window
# cut: the Gaussian spreads a mask 4 px, Sobel 1 px more, non-maximum suppression looks 1 px
# further; one spare.
_WINDOW_MARGIN = 7
_WINDOW_STEP = 16  # window sides are rounded up to this, so that few distinct sizes occur
_CHUNK_PIXELS = 1 << 16  # pixels per stacked batch; keeps the float temporaries in cache

# Surface distances up to sqrt(last bound) are found by looking up the offsets ring by ring;
# farther surface pixels go to a k-d tree.
_RING_BOUNDS = (0, 2, 8, 18, 32, 50, 72, 100)
_HD_PERCENTILE = 95


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


def canny_edges(masks) -> np.ndarray:
    """Canny edge maps of a ``(N, H, W)`` mask stack, equal to ``skimage.feature.canny(mask)``."""
    masks = as_mask_stack(masks, "masks")
    edges = np.zeros(masks.shape, dtype=bool)
    scratch = _Scratch()
    for window in _plan_windows(_bounding_boxes(masks), masks.shape[1:]):
        flat = _canny_edge_pixels(window, window.cut(masks), scratch)
        lesion, row, col = np.unravel_index(flat, window.stack_shape)
        edges[window.lesions[lesion], window.rows[lesion] + row, window.cols[lesion] + col] = True
    return edges


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
    n = gt.shape[0]
    gt_box = _bounding_boxes(gt)
    pred_box = _bounding_boxes(pred)
    gt_empty = gt_box[:, 0] < 0
    pred_empty = pred_box[:, 0] < 0
    columns = {name: np.full(n, np.nan) for name in METRIC_COLUMNS}
    columns["center_error"] = _center_errors(gt_box, pred_box)

    # Both masks of a lesion lie inside its window, so the whole scoring happens on windows.
    both_box = np.where(pred_empty[:, None], gt_box, _union_boxes(gt_box, pred_box))
    both_box[gt_empty] = -1
    scratch = _Scratch()
    for window in _plan_windows(both_box, gt.shape[1:]):
        gt_win = window.cut(gt)
        pred_win = window.cut(pred)
        lesions = window.lesions
        for name, values in _overlap_scores(gt_win, pred_win).items():
            columns[name][lesions] = values
        gt_edges = _edge_counts(window, gt_win, scratch)
        pred_edges = _edge_counts(window, pred_win, scratch)
        columns["perimeter_error"][lesions] = np.abs(gt_edges - pred_edges) / 2

        scored = ~pred_empty[lesions]
        if scored.any():
            hausdorff, hd95 = _hausdorff_distances(gt_win[scored], pred_win[scored])
            columns["hausdorff"][lesions[scored]] = hausdorff
            columns["hd95"][lesions[scored]] = hd95

    table = pd.DataFrame(columns)
    table["pred_empty"] = pred_empty
    table["gt_empty"] = gt_empty
    return table


def _overlap_scores(gt: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.count_nonzero(gt & pred, axis=(1, 2))
    fn = np.count_nonzero(gt, axis=(1, 2)) - tp
    fp = np.count_nonzero(pred, axis=(1, 2)) - tp
    union = tp + fp + fn
    total = 2 * tp + fp + fn  # |GT| + |pred|, > 0 because the GT is not empty
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


# --- windows ----------------------------------------------------------------------------------


def _bounding_boxes(masks: np.ndarray) -> np.ndarray:
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


def _union_boxes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            np.minimum(a[:, 0], b[:, 0]),
            np.maximum(a[:, 1], b[:, 1]),
            np.minimum(a[:, 2], b[:, 2]),
            np.maximum(a[:, 3], b[:, 3]),
        ],
        axis=1,
    )


@dataclass(frozen=True)
class _Window:
    """Equal-sized windows of some lesions: lesion indices and each window's top-left pixel."""

    lesions: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    height: int
    width: int
    image_shape: tuple[int, int]

    @property
    def stack_shape(self) -> tuple[int, int, int]:
        return (len(self.lesions), self.height, self.width)

    def cut(self, masks: np.ndarray) -> np.ndarray:
        views = np.lib.stride_tricks.sliding_window_view(
            masks, (self.height, self.width), axis=(1, 2)
        )
        return views[self.lesions, self.rows, self.cols]


def _plan_windows(boxes: np.ndarray, image_shape: tuple[int, int]) -> Iterator[_Window]:
    """Group the lesions with a box (row_min >= 0) into batches of equal-sized windows.

    Each window holds its box plus :data:`_WINDOW_MARGIN` pixels (less where the image ends)
    and lies inside the image, so a window side is either an image side or far from the masks.
    """
    height, width = image_shape
    lesions = np.flatnonzero(boxes[:, 0] >= 0)
    boxes = boxes[lesions]
    row_lo = np.maximum(boxes[:, 0] - _WINDOW_MARGIN, 0)
    row_hi = np.minimum(boxes[:, 1] + _WINDOW_MARGIN, height - 1)
    col_lo = np.maximum(boxes[:, 2] - _WINDOW_MARGIN, 0)
    col_hi = np.minimum(boxes[:, 3] + _WINDOW_MARGIN, width - 1)
    win_h = np.minimum(_round_up(row_hi - row_lo + 1, _WINDOW_STEP), height)
    win_w = np.minimum(_round_up(col_hi - col_lo + 1, _WINDOW_STEP), width)
    rows = np.minimum(row_lo, height - win_h)
    cols = np.minimum(col_lo, width - win_w)
    sizes = np.unique(np.stack([win_h, win_w], axis=1), axis=0)
    for win_height, win_width in sizes.tolist():
        members = np.flatnonzero((win_h == win_height) & (win_w == win_width))
        per_chunk = max(1, _CHUNK_PIXELS // (win_height * win_width))
        for start in range(0, len(members), per_chunk):
            chunk = members[start : start + per_chunk]
            yield _Window(
                lesions[chunk], rows[chunk], cols[chunk], win_height, win_width, image_shape
            )


class _Scratch:
    """Work arrays reused from one batch of windows to the next.

    Fresh arrays of a few hundred kB per batch make the C library map and unmap memory each
    time, and the page faults then cost more than the arithmetic.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        size = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = np.empty(size, dtype=dtype)
            self._buffers[name] = buffer
        return buffer[:size].reshape(shape)


def _round_up(values: np.ndarray, step: int) -> np.ndarray:
    return -(-values // step) * step


# --- Canny edges ------------------------------------------------------------------------------


def _edge_counts(window: _Window, masks: np.ndarray, scratch: _Scratch) -> np.ndarray:
    flat = _canny_edge_pixels(window, masks, scratch)
    return np.bincount(flat // (window.height * window.width), minlength=len(window.lesions))


@functools.lru_cache(maxsize=16)
def _bleed_over(image_shape: tuple[int, int]) -> np.ndarray:
    """skimage's correction for the Gaussian's zero padding: the smoothed all-ones image + eps."""
    ones = np.ones(image_shape, dtype=np.float64)
    smoothed = ndi.gaussian_filter(
        ones, _CANNY_SIGMA, mode="constant", cval=0.0, truncate=_CANNY_TRUNCATE
    )
    smoothed += np.finfo(np.float64).eps
    smoothed.flags.writeable = False
    return smoothed


@functools.cache
def _column_gaussian_table() -> np.ndarray:
    """The Gaussian's first pass at a pixel of a binary image, for each 9-pixel column pattern.

    scipy itself filters every pattern, so a table look-up returns its exact value.
    """
    radius = int(_CANNY_TRUNCATE * _CANNY_SIGMA + 0.5)
    taps = 2 * radius + 1
    patterns = (np.arange(1 << taps)[:, None] >> np.arange(taps)) & 1
    filtered = ndi.gaussian_filter1d(
        patterns.astype(np.float64),
        _CANNY_SIGMA,
        axis=1,
        mode="constant",
        cval=0.0,
        truncate=_CANNY_TRUNCATE,
    )
    table = filtered[:, radius].copy()
    table.flags.writeable = False
    return table


def _gaussian(masks: np.ndarray, scratch: _Scratch) -> np.ndarray:
    """``ndi.gaussian_filter(mask, 1, mode="constant")`` of each binary image of the stack.

    The first (column) pass is a look-up of each pixel's 9-pixel column pattern.
    """
    table = _column_gaussian_table()
    taps = len(table).bit_length() - 1
    radius = taps // 2
    n, height, width = masks.shape
    bits = scratch.get("bits", (n, height + 2 * radius, width), np.uint16)
    bits[:, :radius] = 0
    bits[:, radius + height :] = 0
    bits[:, radius : radius + height] = masks
    code = scratch.get("code", (n, height, width), np.uint16)
    shifted = scratch.get("shifted", (n, height, width), np.uint16)
    np.copyto(code, bits[:, :height])
    for bit in range(1, taps):
        np.left_shift(bits[:, bit : bit + height], bit, out=shifted)
        code |= shifted
    index = scratch.get("index", (n, height, width), np.intp)
    np.copyto(index, code)
    smoothed = scratch.get("smoothed", (n, height, width))
    np.take(table, index, out=smoothed, mode="clip")  # codes are < len(table); no buffering
    ndi.gaussian_filter1d(
        smoothed,
        _CANNY_SIGMA,
        axis=2,
        output=smoothed,
        mode="constant",
        cval=0.0,
        truncate=_CANNY_TRUNCATE,
    )
    return smoothed


def _canny_edge_pixels(window: _Window, masks: np.ndarray, scratch: _Scratch) -> np.ndarray:
    """Flat indices into the window stack of the pixels ``skimage.feature.canny`` marks.

    skimage's steps: Gaussian with zero padding divided by the full image's bleed-over, Sobel
    with "reflect" borders, gradient magnitude, non-maximum suppression, hysteresis. Filters
    act on the image axes only, never across the stack.
    """
    n, height, width = masks.shape
    image_h, image_w = window.image_shape
    smoothed = _gaussian(masks, scratch)

    # Divided straight into an edge-padded array: one pixel of "edge" = scipy's "reflect".
    padded = scratch.get("padded", (n, height + 2, width + 2))
    bleed_over = _bleed_over(window.image_shape)
    for k, (row, col) in enumerate(zip(window.rows.tolist(), window.cols.tolist(), strict=True)):
        np.divide(
            smoothed[k],
            bleed_over[row : row + height, col : col + width],
            out=padded[k, 1:-1, 1:-1],
        )
    padded[:, 0, 1:-1] = padded[:, 1, 1:-1]
    padded[:, -1, 1:-1] = padded[:, -2, 1:-1]
    padded[:, :, 0] = padded[:, :, 1]
    padded[:, :, -1] = padded[:, :, -2]

    # ndi.sobel: difference along one axis, then [1, 2, 1] across. scipy's products here are
    # exact (by 0, ±1, 2), so these slices give its values bit for bit.
    term = scratch.get("term", (n, height, width))
    down = scratch.get("down", (n, height, width + 2))
    np.subtract(padded[:, 2:, :], padded[:, :-2, :], out=down)
    isobel = scratch.get("isobel", (n, height, width))
    np.multiply(down[:, :, 1:-1], 2.0, out=isobel)
    np.add(down[:, :, :-2], down[:, :, 2:], out=term)
    isobel += term
    across = scratch.get("across", (n, height + 2, width))
    np.subtract(padded[:, :, 2:], padded[:, :, :-2], out=across)
    jsobel = scratch.get("jsobel", (n, height, width))
    np.multiply(across[:, 1:-1, :], 2.0, out=jsobel)
    np.add(across[:, :-2, :], across[:, 2:, :], out=term)
    jsobel += term

    magnitude = scratch.get("magnitude", (n, height, width))
    np.multiply(isobel, isobel, out=magnitude)
    np.multiply(jsobel, jsobel, out=term)
    magnitude += term
    np.sqrt(magnitude, out=magnitude)

    # skimage never marks the image's outermost pixels.
    rows = window.rows[:, None] + np.arange(height)
    cols = window.cols[:, None] + np.arange(width)
    above_low = scratch.get("above_low", (n, height, width), bool)
    np.greater_equal(magnitude, _CANNY_LOW, out=above_low)
    above_low &= ((rows > 0) & (rows < image_h - 1))[:, :, None]
    above_low &= ((cols > 0) & (cols < image_w - 1))[:, None, :]
    candidates = np.flatnonzero(above_low)

    magnitude = magnitude.ravel()
    strength = magnitude[candidates]
    kept = _nonmaximum_suppression(
        candidates,
        isobel.ravel()[candidates],
        jsobel.ravel()[candidates],
        strength,
        magnitude,
        width,
    )
    low = candidates[kept]
    high = strength[kept] >= _CANNY_HIGH
    return _hysteresis(low, high, width)


def _nonmaximum_suppression(
    flat: np.ndarray,
    isobel: np.ndarray,
    jsobel: np.ndarray,
    strength: np.ndarray,
    magnitude: np.ndarray,
    width: int,
) -> np.ndarray:
    """Which candidates survive skimage's bilinear non-maximum suppression.

    skimage's four gradient-direction cases reduce to: interpolate between the neighbour along
    the steeper axis and the diagonal neighbour, with weight min/max of the two gradients; the
    neighbours behind mirror those ahead. Candidates are never on a window's outer pixels, so
    the neighbours stay in the same image. The arithmetic is skimage's, term for term.
    """
    abs_i = np.abs(isobel)
    abs_j = np.abs(jsobel)
    same_sign = (isobel <= 0) == (jsobel <= 0)
    # skimage breaks |i| == |j| ties differently by sign, but there the weight is 1 and only
    # the diagonal neighbour counts, so either choice gives its result.
    steep = abs_i > abs_j
    weight = np.minimum(abs_i, abs_j) / np.maximum(abs_i, abs_j)
    vertical = np.where(same_sign, width, -width)
    straight = np.where(steep, vertical, 1)
    diagonal = vertical + 1
    rest = 1.0 - weight
    ahead = magnitude[flat + diagonal] * weight + magnitude[flat + straight] * rest
    behind = magnitude[flat - diagonal] * weight + magnitude[flat - straight] * rest
    return (ahead <= strength) & (behind <= strength)


def _hysteresis(low: np.ndarray, high: np.ndarray, width: int) -> np.ndarray:
    """The ``low`` pixels 8-connected through ``low`` pixels to a ``high`` one.

    ``low`` is sorted and off the window edges. Edges of binary masks are nearly all strong,
    so the search starts from the few weak pixels and grows through them only.
    """
    weak = low[~high]
    strong = low[high]
    if not weak.size:
        return strong
    steps = np.array([-width - 1, -width, -width + 1, -1, 1, width - 1, width, width + 1])
    kept = _member_of(weak[:, None] + steps, strong).any(axis=1)
    frontier = weak[kept]
    while frontier.size:
        neighbours = (frontier[:, None] + steps).ravel()
        position = np.minimum(np.searchsorted(weak, neighbours), len(weak) - 1)
        reached = np.unique(position[weak[position] == neighbours])
        reached = reached[~kept[reached]]
        kept[reached] = True
        frontier = weak[reached]
    return np.concatenate([strong, weak[kept]])


def _member_of(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if not sorted_set.size:
        return np.zeros(values.shape, dtype=bool)
    position = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[position] == values


# --- surface distances ------------------------------------------------------------------------


def _hausdorff_distances(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """medpy's ``hd`` and ``hd95`` for each pair of non-empty windows."""
    gt_surface = _surfaces(gt)
    pred_surface = _surfaces(pred)
    gt_points = _pixels(gt_surface)
    pred_points = _pixels(pred_surface)
    to_pred = _nearest_sq_distances(gt_points, pred_surface, pred_points)
    to_gt = _nearest_sq_distances(pred_points, gt_surface, gt_points)
    lesion = np.concatenate([gt_points[0], pred_points[0]])
    sq_distance = np.concatenate([to_pred, to_gt])
    return _max_and_percentile(lesion, sq_distance, len(gt), _HD_PERCENTILE)


def _surfaces(masks: np.ndarray) -> np.ndarray:
    """Mask minus its erosion by the 4-connected cross, outside the window being background."""
    inner = masks.copy()
    inner[:, 1:, :] &= masks[:, :-1, :]
    inner[:, :-1, :] &= masks[:, 1:, :]
    inner[:, :, 1:] &= masks[:, :, :-1]
    inner[:, :, :-1] &= masks[:, :, 1:]
    inner[:, [0, -1], :] = False
    inner[:, :, [0, -1]] = False
    return masks & ~inner


_Pixels = tuple[np.ndarray, np.ndarray, np.ndarray]


def _pixels(masks: np.ndarray) -> _Pixels:
    """``(lesion, row, col)`` of the set pixels in C order (``np.nonzero``, but faster)."""
    _, height, width = masks.shape
    flat = np.flatnonzero(masks)
    lesion, within = np.divmod(flat, height * width)
    row, col = np.divmod(within, width)
    return lesion, row, col


@functools.cache
def _annuli() -> list[tuple[np.ndarray, np.ndarray]]:
    """Integer offsets ``(drow, dcol)`` in rings of growing squared length, each ring sorted.

    A ring holds the offsets with ``bound[k-1] < drow² + dcol² <= bound[k]``; few rings keep
    the number of array operations low, and sorting makes the first hit the nearest one.
    """
    radius = math.isqrt(_RING_BOUNDS[-1])
    drow, dcol = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    drow, dcol = drow.ravel(), dcol.ravel()
    sq = drow * drow + dcol * dcol
    rings = []
    for inner, outer in zip((-1, *_RING_BOUNDS[:-1]), _RING_BOUNDS, strict=True):
        members = np.flatnonzero((sq > inner) & (sq <= outer))
        members = members[np.argsort(sq[members], kind="stable")]
        rings.append((np.stack([drow[members], dcol[members]], axis=1), sq[members]))
    return rings


def _nearest_sq_distances(source: _Pixels, target: np.ndarray, target_points: _Pixels):
    """Squared distance from each ``source`` pixel to the nearest ``target`` pixel of its lesion.

    Integers throughout: the square root is taken once at the end, as the distance transform
    does, so the result is bit-for-bit the reference's.
    """
    radius = math.isqrt(_RING_BOUNDS[-1])
    n, height, width = target.shape
    padded = np.zeros((n, height + 2 * radius, width + 2 * radius), dtype=bool)
    padded[:, radius:-radius, radius:-radius] = target
    padded_height, padded_width = padded.shape[1:]
    padded = padded.ravel()
    lesion, row, col = source
    position = (lesion * padded_height + row + radius) * padded_width + col + radius

    best = np.full(len(position), -1, dtype=np.int64)
    pending = np.arange(len(position))
    for offsets, sq in _annuli():
        if not pending.size:
            break
        hits = padded[position[pending, None] + (offsets @ [padded_width, 1])]
        found = hits.any(axis=1)
        best[pending[found]] = sq[hits[found].argmax(axis=1)]
        pending = pending[~found]
    if pending.size:
        far = (lesion[pending], row[pending], col[pending])
        best[pending] = _tree_sq_distances(far, target_points, height + width)
    return best


def _tree_sq_distances(source: _Pixels, target: _Pixels, spacing: int) -> np.ndarray:
    """Nearest squared distances by k-d tree, each lesion on its own plane ``spacing`` apart.

    ``spacing`` must exceed any distance within a window, so no plane sees another.
    """
    needed = np.zeros(int(max(source[0].max(), target[0].max())) + 1, dtype=bool)
    needed[source[0]] = True
    keep = needed[target[0]]
    target_xyz = np.stack([axis[keep] for axis in target], axis=1)
    source_xyz = np.stack(source, axis=1)
    scale = np.array([spacing, 1, 1])
    _, nearest = cKDTree(target_xyz * scale).query(source_xyz * scale)
    delta = target_xyz[nearest, 1:] - source_xyz[:, 1:]
    return (delta * delta).sum(axis=1)


def _max_and_percentile(
    group: np.ndarray, sq_distance: np.ndarray, n_groups: int, percentile: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the largest distance, and ``np.percentile(distances, percentile)``."""
    span = int(sq_distance.max()) + 1
    ordered = np.sort(group * span + sq_distance)
    distance = np.sqrt((ordered % span).astype(np.float64))
    count = np.bincount(group, minlength=n_groups)
    start = np.cumsum(count) - count
    last = start + count - 1

    # np.percentile's "linear" method, operation for operation.
    quantile = np.true_divide(percentile, 100)
    virtual = (count - 1) * quantile
    previous = np.floor(virtual)
    gamma = virtual - previous
    lower = distance[start + previous.astype(np.int64)]
    upper = distance[np.minimum(start + previous.astype(np.int64) + 1, last)]
    diff = upper - lower
    value = np.where(gamma >= 0.5, upper - diff * (1 - gamma), lower + diff * gamma)
    return distance[last], value
