"""GrabCut refinement of an ellipse target: the training target under ``target: grabcut``,
and DeepLesion's reference for scoring (it has no masks). ``grabcut_target`` is the
project's; ``released_grabcut`` the released code's (PROTOCOL item 2, ``protocol: paper``)."""

from __future__ import annotations

import cv2
import numpy as np

GRABCUT_ITERATIONS = 5


def grabcut_target(image: np.ndarray, ellipse_mask: np.ndarray) -> np.ndarray:
    """GrabCut refinement of an ellipse pseudo-mask, as the paper's alternative target.

    The image is blanked outside the ellipse and GrabCut starts from the ellipse's bounding
    rectangle. Falls back to the ellipse itself when GrabCut keeps nothing.
    """
    ellipse_mask = np.asarray(ellipse_mask, dtype=bool)
    rows, cols = np.nonzero(ellipse_mask)
    if rows.size == 0:
        return ellipse_mask.copy()
    x0, y0 = int(cols.min()), int(rows.min())
    rect = (x0, y0, int(cols.max()) - x0 + 1, int(rows.max()) - y0 + 1)
    masked = np.ascontiguousarray(image * ellipse_mask[..., None], dtype=np.uint8)
    labels = np.zeros(ellipse_mask.shape, dtype=np.uint8)
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(masked, labels, rect, background_model, foreground_model,
                    GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_RECT)
    except cv2.error:
        # GrabCut refuses rectangles covering the whole image or a single colour.
        return ellipse_mask.copy()
    refined = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    return refined if refined.any() else ellipse_mask.copy()


def released_grabcut(image: np.ndarray, ellipse_mask: np.ndarray) -> np.ndarray:
    """The released code's GrabCut of a DeepLesion patch, its evaluation target (PROTOCOL
    item 2), kept because the published DeepLesion numbers were scored against it.

    The windowed patch went in as ``np.uint8(patch / 255)``: 1 where the window saturated,
    0 elsewhere, so for a uint8 patch the image is ``patch == 255``, times the ellipse mask.
    The rectangle is ``(x_min + 2, y_min + 2, w − 2, h − 2)`` with ``w = x_max − x_min`` over
    the ellipse's pixels; 5 iterations from a rectangle, OpenCV's RNG seeded with 0 first (a
    second seed gave the same targets on every reference case). Foreground = definite or
    probable; an empty result, or a rectangle GrabCut refuses, gives the ellipse back.
    """
    ellipse_mask = np.asarray(ellipse_mask, dtype=bool)
    rows, cols = np.nonzero(ellipse_mask)
    if rows.size == 0:
        return ellipse_mask.copy()
    x0, y0 = int(cols.min()), int(rows.min())
    width, height = int(cols.max()) - x0, int(rows.max()) - y0
    rect = (x0 + 2, y0 + 2, width - 2, height - 2)
    saturated = (np.asarray(image) == 255).astype(np.uint8) * ellipse_mask[..., None]
    labels = ellipse_mask.astype(np.uint8)
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(np.ascontiguousarray(saturated), labels, rect, background_model,
                    foreground_model, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_RECT)
    except cv2.error:
        return ellipse_mask.copy()
    refined = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    return refined if refined.any() else ellipse_mask.copy()
