"""The edges the paper's perimeter error counts, one image at a time in plain numpy and scipy.

The released code calls ``skimage.feature.canny(mask, low_threshold=1, high_threshold=1)`` on
a uint8 0/1 mask under scikit-image 0.18.1. This module writes that call out step by step, as
0.18.1 computes it, so that the tests do not depend on the installed scikit-image, whose
Canny has since changed (``sqrt(i*i + j*j)`` instead of ``hypot``, a float32 low threshold).
It is the reference that ``weaklesion.evaluation.canny``'s compiled kernel is checked against; it
reproduces the released code's own edge maps (``tests/data/paper_metrics_vectors.npz``).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

SIGMA = 1.0
TRUNCATE = 4.0
# The thresholds given (1) over the uint8 maximum, as Python floats: low = high.
LOW_THRESHOLD = 1 / 255
HIGH_THRESHOLD = 1 / 255

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def paper_canny(mask: np.ndarray) -> np.ndarray:
    """Edge map of a 2-D 0/1 (or bool) mask, as the released code's Canny call gives it."""
    return edges_from_gradients(*gradients(mask))


def paper_edge_count(mask: np.ndarray) -> int:
    return int(np.count_nonzero(paper_canny(mask)))


def gradients(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sobel along rows and along columns of the smoothed mask, and the gradient magnitude."""
    smoothed = _smoothed(np.asarray(mask).astype(np.uint8))
    isobel = ndi.sobel(smoothed, axis=0)
    jsobel = ndi.sobel(smoothed, axis=1)
    return isobel, jsobel, np.hypot(isobel, jsobel)


def edges_from_gradients(isobel, jsobel, magnitude) -> np.ndarray:
    """Non-maximum suppression and hysteresis, given the gradients."""
    # The outermost ring is never an edge (no mask argument: the erosion of an all-ones image
    # with zeros beyond it), and neither is a pixel without gradient.
    inside = ndi.binary_erosion(np.ones(magnitude.shape, dtype=bool), _EIGHT_CONNECTED,
                                border_value=0)
    candidates = inside & (magnitude > 0)
    local_maxima = _suppress_non_maxima(isobel, jsobel, magnitude, candidates)
    return _hysteresis(local_maxima, magnitude)


def _smoothed(image: np.ndarray) -> np.ndarray:
    """skimage.filters.gaussian of the uint8 image, corrected for the zero padding."""
    # img_as_float multiplies a uint8 image by 1/255: a mask pixel becomes 0 or 1/255.
    as_float = np.multiply(image, 1.0 / 255, dtype=np.float64)
    options = {"sigma": SIGMA, "mode": "constant", "cval": 0.0, "truncate": TRUNCATE}
    bleed_over = ndi.gaussian_filter(np.ones(image.shape), **options) + np.finfo(float).eps
    return ndi.gaussian_filter(as_float, **options) / bleed_over


# The four octants of the gradient direction in the order 0.18.1 evaluates them; a pixel
# lying in two of them (|i| == |j|, or i or j zero) keeps the result of the later one.
# Each: whether i and j have the same sign, which of |i|, |j| is the larger, and the
# neighbours ahead along the gradient (row, column offsets): diagonal, then straight. The
# neighbours behind are their mirror images.
_OCTANTS = (
    (True, "i", (1, 1), (1, 0)),
    (True, "j", (1, 1), (0, 1)),
    (False, "j", (-1, 1), (0, 1)),
    (False, "i", (-1, 1), (-1, 0)),
)


def _suppress_non_maxima(isobel, jsobel, magnitude, candidates) -> np.ndarray:
    abs_i = np.abs(isobel)
    abs_j = np.abs(jsobel)
    same_sign = ((isobel >= 0) & (jsobel >= 0)) | ((isobel <= 0) & (jsobel <= 0))
    opposite_sign = ((isobel <= 0) & (jsobel >= 0)) | ((isobel >= 0) & (jsobel <= 0))
    local_maxima = np.zeros(magnitude.shape, dtype=bool)
    for same, larger, diagonal, straight in _OCTANTS:
        signs = same_sign if same else opposite_sign
        steep = abs_i >= abs_j if larger == "i" else abs_i <= abs_j
        rows, cols = np.nonzero(candidates & signs & steep)
        if larger == "i":
            weight = abs_j[rows, cols] / abs_i[rows, cols]
        else:
            weight = abs_i[rows, cols] / abs_j[rows, cols]
        strength = magnitude[rows, cols]
        is_maximum = np.ones(rows.shape, dtype=bool)
        for side in (1, -1):  # ahead, then behind
            corner = magnitude[rows + side * diagonal[0], cols + side * diagonal[1]]
            edge = magnitude[rows + side * straight[0], cols + side * straight[1]]
            is_maximum &= corner * weight + edge * (1 - weight) <= strength
        local_maxima[rows, cols] = is_maximum
    return local_maxima


def _hysteresis(local_maxima: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Keep the 8-connected groups of weak maxima that hold a strong one. With the paper's
    equal thresholds every weak maximum is strong, but the step is written out regardless."""
    weak = local_maxima & (magnitude >= LOW_THRESHOLD)
    strong = local_maxima & (magnitude >= HIGH_THRESHOLD)
    labels, count = ndi.label(weak, structure=_EIGHT_CONNECTED)
    if count == 0:
        return weak
    kept = np.zeros(count + 1, dtype=bool)
    kept[np.unique(labels[strong])] = True
    kept[0] = False
    return kept[labels]
