"""Canny edges of binary masks, equal pixel for pixel to ``skimage.feature.canny(mask)``.

The perimeter error counts Canny edge pixels of both masks of every lesion, which makes Canny
the bulk of scoring a test set. Here each mask is filtered only around its own bounding box,
in one compiled loop per stack (numba), instead of through a dozen numpy passes per step.

skimage's steps, with its default arguments, repeated operation for operation so that every
floating-point value is the same: Gaussian (sigma 1, truncate 4) with zero padding, divided by
the smoothed all-ones image plus eps (its correction for the padding); Sobel along both axes
with "reflect" borders; gradient magnitude; bilinear non-maximum suppression; hysteresis
between 0.1 and 0.2, 8-connected. The image's outermost pixels are never edges.
(A build of scikit-image compiled with fused multiply-add, as some ARM builds are, rounds its
non-maximum suppression differently; there a rare tie can flip one edge pixel.)
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.ndimage as ndi

from weaklesion.jit import kernel

_SIGMA = 1.0
_TRUNCATE = 4.0
_RADIUS = int(_TRUNCATE * _SIGMA + 0.5)
# skimage's Cython non-maximum suppression takes the low threshold as a C float, so 0.1 is
# compared as float32(0.1); the high threshold stays a double.
_LOW = float(np.float32(0.1))
_HIGH = 0.2
# Pixels around a mask's bounding box that the filters reach: the Gaussian spreads a mask
# _RADIUS pixels, Sobel one more, non-maximum suppression looks one further; one spare.
_MARGIN = _RADIUS + 3

_OUTSIDE, _WEAK, _EDGE = 0, 1, 2  # hysteresis states of a pixel


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
    # scipy filters every such pattern once, so a look-up returns scipy's exact value.
    patterns = (np.arange(1 << taps)[:, None] >> np.arange(taps)) & 1
    column_table = _gaussian_1d(patterns.astype(np.float64), axis=1)[:, _RADIUS].copy()
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
    state = np.zeros((height, width), dtype=np.uint8)  # _OUTSIDE except while in use
    weak = np.empty(height * width, dtype=np.int64)  # flat indices of the pixels kept by NMS
    stack = np.empty(height * width, dtype=np.int64)  # each pixel is pushed at most once
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
        n_weak, n_strong = _suppress(top, bottom, left, right, smoothed, magnitude, state, weak,
                                     stack)
        counts[k] = _link(top, bottom, left, right, state, stack, n_strong)
        for p in range(n_weak):
            r, c = divmod(weak[p], width)
            if write_edges:
                edges[k, r, c] = state[r, c] == _EDGE
            state[r, c] = _OUTSIDE
    return counts


@kernel
def _smooth(mask, top, bottom, left, right, column_table, row_taps, bleed_over, smoothed):
    """skimage's smoothed image on the window, into ``smoothed`` (offset by its border)."""
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
    for r in range(top, bottom + 1):
        for c in range(left, right + 1):
            i, j = _sobel(smoothed, r, c)
            magnitude[r, c] = np.sqrt(i * i + j * j)


@kernel
def _suppress(top, bottom, left, right, smoothed, magnitude, state, weak, strong):
    """Non-maximum suppression of the pixels above the low threshold.

    Survivors are marked _WEAK and listed in ``weak``; those above the high threshold are
    marked _EDGE and also listed in ``strong``. Returns both counts.

    skimage's four gradient-direction cases reduce to: interpolate between the neighbour along
    the steeper axis and the diagonal neighbour, with weight min/max of the two gradients; the
    neighbours behind mirror those ahead. (Where |i| == |j| skimage picks a case by sign, but
    the weight is 1 and only the diagonal counts, so either choice gives its result.)
    """
    height, width = magnitude.shape
    n_weak = 0
    n_strong = 0
    for r in range(max(top, 1), min(bottom, height - 2) + 1):
        for c in range(max(left, 1), min(right, width - 2) + 1):
            strength = magnitude[r, c]
            if strength < _LOW:
                continue
            # Recomputed for the few candidates rather than stored for every pixel.
            i, j = _sobel(smoothed, r, c)
            abs_i = abs(i)
            abs_j = abs(j)
            weight = min(abs_i, abs_j) / max(abs_i, abs_j)
            rest = 1.0 - weight
            down = 1 if (i <= 0) == (j <= 0) else -1
            straight_r, straight_c = (down, 0) if abs_i > abs_j else (0, 1)
            ahead = (magnitude[r + down, c + 1] * weight
                     + magnitude[r + straight_r, c + straight_c] * rest)
            behind = (magnitude[r - down, c - 1] * weight
                      + magnitude[r - straight_r, c - straight_c] * rest)
            if ahead <= strength and behind <= strength:
                weak[n_weak] = r * width + c
                n_weak += 1
                if strength >= _HIGH:
                    state[r, c] = _EDGE
                    strong[n_strong] = r * width + c
                    n_strong += 1
                else:
                    state[r, c] = _WEAK
    return n_weak, n_strong


@kernel
def _link(top, bottom, left, right, state, stack, size):
    """Hysteresis: weak pixels 8-connected through weak ones to a strong one become edges.

    ``stack`` starts with the ``size`` strong pixels; returns the number of edge pixels.
    """
    width = state.shape[1]
    count = 0
    while size:
        size -= 1
        r, c = divmod(stack[size], width)
        count += 1
        for dr in range(-1, 2):
            for dc in range(-1, 2):
                nr = r + dr
                nc = c + dc
                if top <= nr <= bottom and left <= nc <= right and state[nr, nc] == _WEAK:
                    state[nr, nc] = _EDGE
                    stack[size] = nr * width + nc
                    size += 1
    return count
