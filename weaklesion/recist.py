"""Ellipses as weak labels: fit to a mask, build from RECIST diameters, rasterise, refine.

An ellipse is ``(cx, cy, width, height, angle)`` in OpenCV's RotatedRect convention: centre in
pixel coordinates (x right, y down, pixel centres at integers), full axis lengths, and the
first axis (``width``) rotated by ``angle`` degrees clockwise on screen, in [0, 180).
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

MIN_HULL_POINTS = 5  # cv2.fitEllipse needs five points


class Ellipse(NamedTuple):
    cx: float
    cy: float
    width: float
    height: float
    angle: float

    def as_array(self) -> np.ndarray:
        return np.array(self, dtype=np.float32)


ELLIPSE_COLUMNS = list(Ellipse._fields)


class FitError(ValueError):
    """No ellipse can be fitted: too few hull points, or a degenerate result."""


def fit_ellipse_to_mask(mask: np.ndarray) -> Ellipse:
    """Least-squares ellipse through the convex hull of the mask's foreground pixels.

    This is the paper's weak label for datasets with masks. The hull (not every pixel) is
    fitted, so concavities of an irregular lesion do not pull the ellipse inwards.
    """
    points = cv2.findNonZero((np.asarray(mask) > 0).astype(np.uint8))
    if points is None:
        raise FitError("mask is empty")
    hull = cv2.convexHull(points)
    if len(hull) < MIN_HULL_POINTS:
        raise FitError(f"convex hull has {len(hull)} points, fitEllipse needs {MIN_HULL_POINTS}")
    (cx, cy), (width, height), angle = cv2.fitEllipse(hull)
    ellipse = Ellipse(float(cx), float(cy), float(width), float(height), float(angle) % 180.0)
    _check_finite(ellipse)
    return ellipse


def ellipse_from_recist(recist: np.ndarray) -> Ellipse:
    """Ellipse from RECIST endpoints ``[[long_a], [long_b], [short_a], [short_b]]`` as (x, y).

    Centre = intersection of the two diameters (of their lines, when the annotator's segments
    do not quite cross); ``width`` = short diameter along the short axis direction, ``height`` =
    long diameter, ``angle`` = direction of the short axis.
    """
    points = np.asarray(recist, dtype=np.float64).reshape(4, 2)
    if not np.isfinite(points).all():
        raise FitError("RECIST coordinates are not finite")
    long_a, long_b, short_a, short_b = points
    long_dir, short_dir = long_b - long_a, short_b - short_a
    long_len, short_len = np.linalg.norm(long_dir), np.linalg.norm(short_dir)
    if long_len == 0 or short_len == 0:
        raise FitError("a RECIST diameter has zero length")
    # Solve long_a + s * long_dir = short_a + t * short_dir for the crossing point.
    system = np.column_stack([long_dir, -short_dir])
    if abs(np.linalg.det(system)) < 1e-9 * long_len * short_len:
        raise FitError("RECIST diameters are parallel")
    s, _ = np.linalg.solve(system, short_a - long_a)
    cx, cy = long_a + s * long_dir
    angle = np.degrees(np.arctan2(short_dir[1], short_dir[0])) % 180.0
    ellipse = Ellipse(float(cx), float(cy), float(short_len), float(long_len), float(angle))
    _check_finite(ellipse)
    return ellipse


def _check_finite(ellipse: Ellipse) -> None:
    values = np.array(ellipse, dtype=np.float64)
    if not np.isfinite(values).all() or ellipse.width <= 0 or ellipse.height <= 0:
        raise FitError(f"degenerate ellipse {tuple(np.round(values, 3))}")


_SUBPIXEL_BITS = 8


def rasterise_ellipse(ellipse: Ellipse, shape: tuple[int, int]) -> np.ndarray:
    """Filled ellipse as a bool mask of ``shape`` (rows, cols), drawn with OpenCV.

    OpenCV fills every pixel its outline touches; shrinking the semi-axes by half a pixel makes
    it keep the pixels whose centres lie inside the ellipse, so fitting the result recovers the
    ellipse instead of one about a pixel wider.
    """
    canvas = np.zeros(shape, dtype=np.uint8)
    scale = 1 << _SUBPIXEL_BITS
    centre = (round(ellipse.cx * scale), round(ellipse.cy * scale))
    axes = (
        round(max(ellipse.width / 2 - 0.5, 0.0) * scale),
        round(max(ellipse.height / 2 - 0.5, 0.0) * scale),
    )
    cv2.ellipse(canvas, centre, axes, ellipse.angle, 0, 360, 1, cv2.FILLED, cv2.LINE_8,
                _SUBPIXEL_BITS)
    return canvas.astype(bool)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


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
