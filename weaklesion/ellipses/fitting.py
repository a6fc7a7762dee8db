"""Ellipses as weak labels: fitted to a mask, built from RECIST diameters, rasterised.

An ellipse is ``(cx, cy, width, height, angle)`` in OpenCV's RotatedRect convention: centre in
pixel coordinates (x right, y down, pixel centres at integers), full axis lengths, and the
first axis (``width``) rotated by ``angle`` degrees clockwise on screen, in [0, 180).

Two families of steps: the project's own (``fit_ellipse_to_mask``, ``ellipse_from_recist``;
``protocol: corrected``), which refuse degenerate shapes and fold angles, and the paper's
released procedure step for step (the ``released_*`` functions; ``protocol: paper``), which
the published numbers came from. docs/protocols.md lists every difference.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

MIN_HULL_POINTS = 5  # cv2.fitEllipse needs five points
MIN_THICKNESS_PX = 2.0
MAX_AXIS_TO_IMAGE = 4.0
MIN_HULL_IOU = 0.4
CENTRE_TOLERANCE_PX = 1.0
MAX_CROSSING_OVERSHOOT = 0.5


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

    Degenerate shapes are a FitError, never a returned ellipse. The paper's rule (a hull of
    at least MIN_HULL_POINTS points) already refuses empty and full masks, single pixels and
    axis-aligned bars; OpenCV's conic fit still answers for other shapes that are not
    ellipses, sometimes far off, so the fit must also describe the mask:

    - the foreground is at least MIN_THICKNESS_PX wide (pixel centres): thinner is a line,
      which has no outline to fit (a fit to a 1 px line can come out 5 px wide);
    - no axis is longer than MAX_AXIS_TO_IMAGE times the mask's longer side;
    - the centre lies in the foreground's bounding box (± CENTRE_TOLERANCE_PX), unless the
      foreground reaches the mask's border: a lesion cut off there may be centred outside;
    - the filled ellipse, within the mask's frame, overlaps the filled hull with IoU at least
      MIN_HULL_IOU; hulls whose points bunch at three or four corners (triangles) make the
      least-squares conic miss them entirely.

    Lesions from real masks are far from these limits; the LiTS rule on the ellipse's IoU
    with the mask itself is applied separately (:func:`weaklesion.datasets.preprocess.weak_label`).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise FitError(f"mask must be 2-D, got shape {mask.shape}")
    points = cv2.findNonZero((mask > 0).astype(np.uint8)) if mask.size else None
    if points is None:
        raise FitError("mask is empty")
    hull = cv2.convexHull(points)
    if len(hull) < MIN_HULL_POINTS:
        raise FitError(f"convex hull has {len(hull)} points, fitEllipse needs {MIN_HULL_POINTS}")
    thickness = min(cv2.minAreaRect(hull)[1])
    if thickness < MIN_THICKNESS_PX:
        raise FitError(
            f"mask is a line: its pixels lie in a band {thickness:.1f} px wide, an ellipse "
            f"needs {MIN_THICKNESS_PX:g}"
        )
    (cx, cy), (width, height), angle = cv2.fitEllipse(hull)
    ellipse = Ellipse(float(cx), float(cy), float(width), float(height),
                      _normalised_angle(float(angle)))
    _check_finite(ellipse)
    _check_describes_hull(ellipse, hull, mask.shape)
    return ellipse


def _check_describes_hull(ellipse: Ellipse, hull: np.ndarray, shape: tuple[int, int]) -> None:
    rows, cols = shape
    if max(ellipse.width, ellipse.height) > MAX_AXIS_TO_IMAGE * max(rows, cols):
        raise FitError(
            f"fitted ellipse {_rounded(ellipse)} is over {MAX_AXIS_TO_IMAGE:g} times the "
            f"{cols}×{rows} mask"
        )
    x0, y0, box_width, box_height = cv2.boundingRect(hull)
    x1, y1 = x0 + box_width - 1, y0 + box_height - 1
    at_border = x0 == 0 or y0 == 0 or x1 == cols - 1 or y1 == rows - 1
    tolerance = CENTRE_TOLERANCE_PX
    inside = x0 - tolerance <= ellipse.cx <= x1 + tolerance and (
        y0 - tolerance <= ellipse.cy <= y1 + tolerance
    )
    if not (inside or at_border):
        raise FitError(
            f"fitted ellipse {_rounded(ellipse)} is centred outside the mask's bounding box "
            f"x {x0}..{x1}, y {y0}..{y1}"
        )
    filled_hull = np.zeros(shape, dtype=np.uint8)
    cv2.fillConvexPoly(filled_hull, hull, 1)
    iou = mask_iou(rasterise_ellipse(ellipse, shape), filled_hull.astype(bool))
    if iou < MIN_HULL_IOU:
        raise FitError(
            f"fitted ellipse {_rounded(ellipse)} overlaps the mask's convex hull with IoU "
            f"{iou:.2f} < {MIN_HULL_IOU:g}: the shape is not ellipse-like"
        )


def _rounded(ellipse: Ellipse) -> tuple[float, ...]:
    return tuple(round(value, 1) for value in ellipse)


def ellipse_from_recist(recist: np.ndarray) -> Ellipse:
    """Ellipse from RECIST endpoints ``[[long_a], [long_b], [short_a], [short_b]]`` as (x, y).

    Centre = intersection of the two diameters (of their lines, when the annotator's segments
    do not quite cross); ``width`` = short diameter along the short axis direction, ``height`` =
    long diameter, ``angle`` = direction of the short axis.

    FitError for endpoints that are not a measurement of one lesion: not finite, a diameter of
    zero length, parallel diameters, or lines crossing beyond either segment by more than
    MAX_CROSSING_OVERSHOOT of its length (nearly parallel ones cross far away).
    """
    points = np.asarray(recist, dtype=np.float64).reshape(4, 2)
    if not np.isfinite(points).all():
        raise FitError("RECIST coordinates are not finite")
    long_a, long_b, short_a, short_b = points
    with np.errstate(over="ignore", invalid="ignore"):  # huge coordinates: checked below
        long_dir, short_dir = long_b - long_a, short_b - short_a
        long_len, short_len = math.hypot(*long_dir), math.hypot(*short_dir)
        if long_len == 0 or short_len == 0:
            raise FitError("a RECIST diameter has zero length")
        long_unit, short_unit = long_dir / long_len, short_dir / short_len
        sine = _cross(long_unit, short_unit)
        if abs(sine) < 1e-9:
            raise FitError("RECIST diameters are parallel")
        # long_a + p * long_unit = short_a + q * short_unit, solved for the distances p, q.
        offset = short_a - long_a
        along_long = _cross(offset, short_unit) / sine
        along_short = _cross(offset, long_unit) / sine
        cx, cy = long_a + along_long * long_unit
    ellipse = Ellipse(float(cx), float(cy), float(short_len), float(long_len),
                      _normalised_angle(math.degrees(math.atan2(short_dir[1], short_dir[0]))))
    _check_finite(ellipse)
    for name, distance, length in (("long", along_long, long_len),
                                   ("short", along_short, short_len)):
        if not -MAX_CROSSING_OVERSHOOT <= distance / length <= 1 + MAX_CROSSING_OVERSHOOT:
            raise FitError(
                f"RECIST diameters cross at ({cx:.4g}, {cy:.4g}), beyond the {name} diameter "
                f"by more than {MAX_CROSSING_OVERSHOOT:g} of its length"
            )
    return ellipse


def released_recist_features(recist: np.ndarray) -> Ellipse:
    """The released code's ellipse of a RECIST measurement, which is also its k-means feature
    vector (PROTOCOL item 3): centre where the lines through both diameters cross, ``width`` =
    short and ``height`` = long diameter, and ``angle`` = 90 − atan2(dx, dy) of the short
    axis, *not folded*, so it lies in (−90, 270] and swapping the short axis's endpoints
    moves it by 180°. It is the same ellipse as :func:`ellipse_from_recist`'s; the unfolded
    angle is kept because k-means saw it (labels agree with folded-angle ones at an adjusted
    Rand index of only 0.34). Only measurements with no ellipse at all are refused (not
    finite, a zero-length or parallel diameter); the crossing-point check is not applied.
    """
    points = np.asarray(recist, dtype=np.float64).reshape(4, 2)
    if not np.isfinite(points).all():
        raise FitError("RECIST coordinates are not finite")
    long_a, long_b, short_a, short_b = points
    long_dir, short_dir = long_b - long_a, short_b - short_a
    cross = _cross(long_dir, short_dir)
    if not (math.hypot(*long_dir) and math.hypot(*short_dir)):
        raise FitError("a RECIST diameter has zero length")
    if cross == 0:
        raise FitError("RECIST diameters are parallel")
    along = _cross(short_a - long_a, short_dir) / cross
    cx, cy = long_a + along * long_dir
    angle = 90.0 - math.degrees(math.atan2(short_dir[0], short_dir[1]))
    ellipse = Ellipse(float(cx), float(cy), math.hypot(*short_dir), math.hypot(*long_dir), angle)
    _check_finite(ellipse)
    return ellipse


def _cross(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def _normalised_angle(degrees: float) -> float:
    """``degrees`` in [0, 180): ``-1e-20 % 180`` rounds to 180.0 itself."""
    angle = degrees % 180.0
    return 0.0 if angle >= 180.0 else angle


def _check_finite(ellipse: Ellipse) -> None:
    values = np.array(ellipse, dtype=np.float64)
    if not np.isfinite(values).all() or ellipse.width <= 0 or ellipse.height <= 0:
        raise FitError(f"degenerate ellipse ({', '.join(f'{v:.6g}' for v in values)})")


def rasterise_ellipse(ellipse: Ellipse, shape: tuple[int, int]) -> np.ndarray:
    """Filled ellipse as a bool mask of ``shape`` (rows, cols): the pixels whose centres lie
    inside it, so fitting the result recovers the ellipse.

    Computed exactly, not drawn with OpenCV, whose polygon outline turns ellipses under 3 px
    into diamonds and whose fixed-point coordinates overflow far from the frame. An ellipse
    with a zero axis covers nothing.
    """
    cx, cy, width, height, angle = (float(value) for value in ellipse)
    if not np.isfinite([cx, cy, width, height, angle]).all() or width < 0 or height < 0:
        raise FitError(f"cannot draw the ellipse {tuple(ellipse)}")
    mask = np.zeros(shape, dtype=bool)
    semi_width, semi_height = width / 2, height / 2
    if semi_width == 0 or semi_height == 0:
        return mask
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    # Only the ellipse's bounding box, clipped to the frame, needs evaluating.
    half_x = math.hypot(semi_width * cos, semi_height * sin)
    half_y = math.hypot(semi_width * sin, semi_height * cos)
    x0, x1 = _pixel_span(cx - half_x, cx + half_x, shape[1])
    y0, y1 = _pixel_span(cy - half_y, cy + half_y, shape[0])
    if x0 > x1 or y0 > y1:
        return mask
    dx = np.arange(x0, x1 + 1, dtype=np.float64)[None, :] - cx
    dy = np.arange(y0, y1 + 1, dtype=np.float64)[:, None] - cy
    with np.errstate(over="ignore"):  # sub-pixel axes: far pixels go to inf, still outside
        along = (dx * cos + dy * sin) / semi_width
        across = (dy * cos - dx * sin) / semi_height
        mask[y0 : y1 + 1, x0 : x1 + 1] = along**2 + across**2 <= 1
    return mask


def _pixel_span(low: float, high: float, size: int) -> tuple[int, int]:
    """First and last pixel index in ``[low, high]`` within ``0 … size - 1`` (may be empty)."""
    first = 0 if low <= 0 else min(math.ceil(low), size)
    last = size - 1 if high >= size - 1 else max(math.floor(high), -1)
    return first, last


RELEASED_FOREGROUND = 252
"""The released code took pixels above 252 of a 0/255 image as the lesion."""


def released_fit(mask: np.ndarray) -> Ellipse | None:
    """The released code's ellipse fit: OpenCV's ``fitEllipse`` on the convex hull of the
    pixels above :data:`RELEASED_FOREGROUND` of a 0..255 image, in OpenCV's convention as it
    comes (angle in [0, 180)); None where the hull has fewer than five points, the one case in
    which the released code dropped a lesion. None of :func:`fit_ellipse_to_mask`'s checks
    for degenerate shapes are made (PROTOCOL items 5, 7, 8).
    """
    points = cv2.findNonZero((np.asarray(mask) > RELEASED_FOREGROUND).astype(np.uint8))
    if points is None:
        return None
    hull = cv2.convexHull(points)
    if len(hull) < MIN_HULL_POINTS:
        return None
    (cx, cy), (width, height), angle = cv2.fitEllipse(hull)
    return Ellipse(float(cx), float(cy), float(width), float(height), float(angle))


def released_cluster_features(mask: np.ndarray, size: int = 120) -> Ellipse | None:
    """The released k-means features of a lesion mask (PROTOCOL item 8): the mask as
    matplotlib reads a 0/255 PNG (float 0..1), resized bilinearly to ``size``×``size``, cast
    to uint8, which truncates, so only pixels that stay exactly 1.0 survive, times 255, then
    :func:`released_fit`. This ellipse is not the one the target is drawn from: it sits
    0.2–0.8 px and a few degrees away, and k-means clustered it.
    """
    coverage = np.asarray(mask, dtype=bool).astype(np.float32)
    resized = cv2.resize(coverage, (size, size), interpolation=cv2.INTER_LINEAR)
    return released_fit(resized.astype(np.uint8) * 255)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
