"""Canny edges of binary masks as the paper counted them for its perimeter error.

The released code counts the pixels of ``skimage.feature.canny(mask, low_threshold=1,
high_threshold=1)`` of the uint8 0/1 mask under scikit-image 0.18.1, and that is what produced
the published perimeter column, so these are the edges computed here, pixel for pixel. (They
are not scikit-image's default Canny of a bool mask, whose thresholds 0.1/0.2 give other
counts on about a third of lesion masks.) Canny of both masks of every lesion is the bulk of
scoring a test set; here each mask is filtered only around its own bounding box, in one
compiled loop per stack (numba), instead of through a dozen numpy passes per step.

0.18.1's steps, repeated operation for operation so that every floating-point value is the
same: the mask as a float image (img_as_float: 0 and 1/255); Gaussian (sigma 1, truncate 4)
with zero padding, divided by the smoothed all-ones image plus eps (its correction for the
padding); Sobel along both axes with "reflect" borders; gradient magnitude ``hypot(i, j)``;
bilinear non-maximum suppression; hysteresis between the thresholds over the dtype's
maximum, both 1/255. With equal thresholds every weak pixel is strong, so the edges are the
suppression's survivors at or above 1/255 and no linking is needed. The image's outermost
pixels are never edges.

hypot is a libm call per pixel; the loops instead estimate magnitudes as sqrt(i*i + j*j),
which vectorises and differs from hypot by a few units in the last place, and redo with hypot
the decisions that the estimates leave too close to call (mostly exact ties).
``tests/canny_reference.py`` writes 0.18.1's steps out in numpy; the tests check this module
against it and against the released code's own edge maps.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.ndimage as ndi

from weaklesion.evaluation.jit import kernel

_SIGMA = 1.0
_TRUNCATE = 4.0
_RADIUS = int(_TRUNCATE * _SIGMA + 0.5)
# img_as_float of a uint8 image multiplies by 1/255: a mask pixel becomes exactly this.
_FOREGROUND = 1.0 / 255
# The released code's thresholds (1) over the uint8 maximum, as 0.18.1 divides them.
_THRESHOLD = 1 / 255
# Estimated and exact magnitudes differ by ~1e-16 relative; a comparison of estimates that
# holds with this much room (relative to the magnitudes compared) holds exactly too.
_SLACK = 1e-12
# Pixels around a mask's bounding box that the filters reach: the Gaussian spreads a mask
# _RADIUS pixels, Sobel one more, non-maximum suppression looks one further; one spare.
_MARGIN = _RADIUS + 3


def edge_maps(masks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Edge maps of a boolean ``(N, H, W)`` stack.

    ``boxes`` holds each mask's inclusive ``(row_min, row_max, col_min, col_max)`` bounding
    box, -1 for an empty mask; nothing outside a box grown by the filters' reach is looked at.
    """
    edges = np.zeros(masks.shape, dtype=bool)
    _canny_stack(masks, boxes, *_filters(masks.shape[1:]), edges, True)
    return edges


def edge_counts(masks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Edge pixels per mask of a boolean ``(N, H, W)`` stack; ``boxes`` as in :func:`edge_maps`."""
    unused = np.zeros((1, 1, 1), dtype=bool)
    return _canny_stack(masks, boxes, *_filters(masks.shape[1:]), unused, False)


@functools.lru_cache(maxsize=4)
def _filters(image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scipy's own numbers for the Gaussian: the column pass as a table, the row taps, and
    skimage's bleed-over correction for an image of ``image_shape``."""
    taps = 2 * _RADIUS + 1
    # The first (column) pass at a pixel of a binary image depends only on its 9-pixel column;
    # scipy filters every such pattern of 0 and 1/255 once, so a look-up returns its exact value.
    patterns = (np.arange(1 << taps)[:, None] >> np.arange(taps)) & 1
    scaled = np.where(patterns == 1, _FOREGROUND, 0.0)
    column_table = _gaussian_1d(scaled, axis=1)[:, _RADIUS].copy()
    # An impulse's response is the taps themselves, exactly (x·1 and sums with zeros).
    impulse = np.zeros(taps)
    impulse[_RADIUS] = 1.0
    row_taps = _gaussian_1d(impulse, axis=0)[_RADIUS:].copy()
    bleed_over = _gaussian_1d(_gaussian_1d(np.ones(image_shape), axis=0), axis=1)
    bleed_over += np.finfo(np.float64).eps
    return column_table, row_taps, bleed_over


def _gaussian_1d(values: np.ndarray, axis: int) -> np.ndarray:
    return ndi.gaussian_filter1d(
        values, _SIGMA, axis=axis, mode="constant", cval=0.0, truncate=_TRUNCATE
    )


@kernel
def _canny_stack(masks, boxes, column_table, row_taps, bleed_over, edges, write_edges):
    """Edge count per mask; with ``write_edges`` also the edge maps into ``edges``."""
    n, height, width = masks.shape
    smoothed = np.zeros((height + 2, width + 2))  # one pixel of "reflect" border around
    magnitude = np.zeros((height, width))
    counts = np.zeros(n, dtype=np.int64)
    for k in range(n):
        if boxes[k, 0] < 0:
            continue
        top = max(boxes[k, 0] - _MARGIN, 0)
        bottom = min(boxes[k, 1] + _MARGIN, height - 1)
        left = max(boxes[k, 2] - _MARGIN, 0)
        right = min(boxes[k, 3] + _MARGIN, width - 1)
        _smooth(masks[k], top, bottom, left, right, column_table, row_taps, bleed_over, smoothed)
        _magnitude(smoothed, top, bottom, left, right, magnitude)
        counts[k] = _suppress(top, bottom, left, right, smoothed, magnitude, edges, k,
                              write_edges)
    return counts


@kernel
def _smooth(mask, top, bottom, left, right, column_table, row_taps, bleed_over, smoothed):
    """The smoothed image on the window, into ``smoothed`` (offset by its border)."""
    height, width = mask.shape
    radius = len(row_taps) - 1
    span = right - left + 1
    columns = np.zeros(span + 2 * radius)  # zero beyond the window: no mask there
    # Bit t of codes[c] is mask[r - radius + t, c], the pattern of row r's column c; one step
    # down shifts the top row out and the new bottom row in. Start as if at row top - 1.
    codes = np.zeros(span, dtype=np.int64)
    pass_sum = np.empty(span)
    for row in range(max(top - 1 - radius, 0), min(top + radius, height)):
        for c in range(left, right + 1):
            if mask[row, c]:
                codes[c - left] |= 1 << (row - (top - 1 - radius))
    for r in range(top, bottom + 1):
        incoming = r + radius
        for c in range(left, right + 1):
            code = codes[c - left] >> 1
            if incoming < height and mask[incoming, c]:
                code |= 1 << (2 * radius)
            codes[c - left] = code
            columns[c - left + radius] = column_table[code]
        # scipy's symmetric correlation: centre tap, then pairs from the outermost in. Tap by
        # tap over the whole row, which the compiler turns into vector instructions.
        for c in range(span):
            pass_sum[c] = columns[c + radius] * row_taps[0]
        for t in range(radius, 0, -1):
            tap = row_taps[t]
            for c in range(span):
                pass_sum[c] += (columns[c + radius - t] + columns[c + radius + t]) * tap
        out = smoothed[r + 1, left + 1 : right + 2]
        correction = bleed_over[r, left : right + 1]
        for c in range(span):
            out[c] = pass_sum[c] / correction[c]
    # Repeating the window's edge is scipy's "reflect" at an image side; at a window side
    # inside the image both the edge and what lies beyond it are 0, so it is exact there too.
    for c in range(left + 1, right + 2):
        smoothed[top, c] = smoothed[top + 1, c]
        smoothed[bottom + 2, c] = smoothed[bottom + 1, c]
    for r in range(top, bottom + 3):
        smoothed[r, left] = smoothed[r, left + 1]
        smoothed[r, right + 2] = smoothed[r, right + 1]


@kernel
def _sobel(s, r, c):
    """ndi.sobel of the smoothed image at pixel (r, c) along rows and along columns: the
    difference along one axis, then [1, 2, 1] across. ``s`` holds pixel (r, c) at (r+1, c+1)."""
    down_left = s[r + 2, c] - s[r, c]
    down_mid = s[r + 2, c + 1] - s[r, c + 1]
    down_right = s[r + 2, c + 2] - s[r, c + 2]
    across_up = s[r, c + 2] - s[r, c]
    across_mid = s[r + 1, c + 2] - s[r + 1, c]
    across_down = s[r + 2, c + 2] - s[r + 2, c]
    return (down_mid * 2.0 + (down_left + down_right),
            across_mid * 2.0 + (across_up + across_down))


@kernel
def _magnitude(smoothed, top, bottom, left, right, magnitude):
    """Estimated gradient magnitudes on the window (see the module docstring)."""
    for r in range(top, bottom + 1):
        for c in range(left, right + 1):
            i, j = _sobel(smoothed, r, c)
            magnitude[r, c] = np.sqrt(i * i + j * j)


@kernel
def _exact_magnitude(smoothed, r, c):
    """0.18.1's magnitude: numpy's hypot, which is libm's, as numba's is."""
    i, j = _sobel(smoothed, r, c)
    return np.hypot(i, j)


@kernel
def _suppress(top, bottom, left, right, smoothed, magnitude, edges, k, write_edges):
    """Non-maximum suppression of the pixels at or above the threshold; returns the number of
    survivors, the edge pixels, and with ``write_edges`` marks them in ``edges[k]``.

    0.18.1's four gradient-direction octants reduce to: interpolate between the neighbour
    along the steeper axis and the diagonal neighbour, with weight min/max of the two
    gradients; the neighbours behind mirror those ahead. (A pixel on the line between two
    octants, |i| == |j| or i or j zero, takes the later octant's result; there the weight is 1
    or 0, so only the diagonal or only the straight neighbours count, and both octants agree.)
    """
    height, width = magnitude.shape
    count = 0
    for r in range(max(top, 1), min(bottom, height - 2) + 1):
        for c in range(max(left, 1), min(right, width - 2) + 1):
            strength = magnitude[r, c]
            if strength < _THRESHOLD * (1.0 - _SLACK):
                continue
            # Recomputed for the few candidates rather than stored for every pixel.
            i, j = _sobel(smoothed, r, c)
            abs_i = abs(i)
            abs_j = abs(j)
            weight = min(abs_i, abs_j) / max(abs_i, abs_j)
            down = 1 if (i <= 0) == (j <= 0) else -1
            straight_r, straight_c = (down, 0) if abs_i > abs_j else (0, 1)
            ahead_corner = magnitude[r + down, c + 1]
            ahead_side = magnitude[r + straight_r, c + straight_c]
            behind_corner = magnitude[r - down, c - 1]
            behind_side = magnitude[r - straight_r, c - straight_c]
            ahead = ahead_corner * weight + ahead_side * (1.0 - weight)
            behind = behind_corner * weight + behind_side * (1.0 - weight)
            room = _SLACK * max(strength, ahead_corner, ahead_side, behind_corner, behind_side)
            if ahead > strength + room or behind > strength + room:
                continue
            clearly_edge = (strength > _THRESHOLD * (1.0 + _SLACK)
                            and ahead < strength - room and behind < strength - room)
            if clearly_edge or _is_edge_exactly(smoothed, r, c, weight, down, straight_r,
                                                straight_c):
                count += 1
                if write_edges:
                    edges[k, r, c] = True
    return count


@kernel
def _is_edge_exactly(smoothed, r, c, weight, down, straight_r, straight_c):
    """The threshold and the suppression at (r, c) with 0.18.1's own magnitudes."""
    strength = _exact_magnitude(smoothed, r, c)
    if strength < _THRESHOLD:
        return False
    ahead = (_exact_magnitude(smoothed, r + down, c + 1) * weight
             + _exact_magnitude(smoothed, r + straight_r, c + straight_c) * (1.0 - weight))
    behind = (_exact_magnitude(smoothed, r - down, c - 1) * weight
              + _exact_magnitude(smoothed, r - straight_r, c - straight_c) * (1.0 - weight))
    return ahead <= strength and behind <= strength
