"""RECIST marks measured on a mask, as a radiologist draws them on a lesion: the long axis is
the lesion's longest chord, the short axis its longest chord perpendicular to the long one
and crossing it. On a pixel mask the widths across the long axis step with the pixels, so
the short axis is taken where a parabola fitted to them peaks, among the chords within
SPAN_TOLERANCE_PX of the longest: on a symmetric lesion, near its middle.

Coordinates follow DeepLesion's ``Measurement_coordinates``: ``x`` is the column, ``y`` the
row, the origin at the centre of the top-left pixel; the first two points end the long axis,
the last two the short one. The lesion's outline runs halfway between its pixels and the
background's (where the mask, interpolated bilinearly between pixel centres, is 0.5: the
outline marching squares draws), and an axis ends where it meets it: a filled ellipse of
full axes ``a`` and ``b`` (both over 8 px) measures ``a`` and ``b`` within a pixel, and both
axes lie within the outline (tested every SAMPLE_STEP_PX along them). The lesion is the
mask's largest 8-connected component: a stray pixel elsewhere is not part of its diameter.

Used by ``python -m weaklesion recist-from-masks`` (:mod:`weaklesion.datasets.lesion_table`)
to give masked lesions the marks a ``recist`` dataset reads.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

SAMPLE_STEP_PX = 0.1
"""Spacing of the points tested along a line: the resolution of an axis's end points."""
CHORD_STEP_PX = 0.25
"""Spacing of the points tested along a candidate long axis."""
MAX_CANDIDATE_POINTS = 600
"""Outline points tried as long-axis ends on a lesion that is not convex (every n-th beyond)."""
PAIRS_PER_BATCH = 256
SPAN_TOLERANCE_PX = 1.0
"""A short axis this much shorter than the longest perpendicular chord still counts as it."""
PEAK_FIT_PX = 2.0
REFINE_SHIFT_PX = 1.0
REFINE_TURN_DEG = 3.0


class RecistMarks(NamedTuple):
    """Long axis ``(x1, y1)–(x2, y2)``, short axis ``(x3, y3)–(x4, y4)``, in pixels."""

    x1: float
    y1: float
    x2: float
    y2: float
    x3: float
    y3: float
    x4: float
    y4: float

    def as_points(self) -> np.ndarray:
        """The four end points as rows of (x, y): long a, long b, short a, short b."""
        return np.asarray(self, dtype=np.float64).reshape(4, 2)

    @property
    def long_axis_length(self) -> float:
        return math.hypot(self.x2 - self.x1, self.y2 - self.y1)

    @property
    def short_axis_length(self) -> float:
        return math.hypot(self.x4 - self.x3, self.y4 - self.y3)


MARK_COLUMNS = list(RecistMarks._fields)


class EmptyMaskError(ValueError):
    """The mask has no foreground pixel: there is no lesion to measure."""


def recist_from_mask(mask: np.ndarray) -> RecistMarks:
    """The RECIST marks of the largest lesion of a 2-D mask (any non-zero pixel is
    foreground); EmptyMaskError for a mask without foreground."""
    lesion = largest_component(np.asarray(mask))
    long_a, long_b = _refined(lesion, *_longest_chord(lesion))
    unit = (long_b - long_a) / max(math.dist(long_a, long_b), 1e-12)
    short_a, short_b = _longest_perpendicular(lesion, long_a, long_b, unit)
    long_axis = sorted(tuple(round(float(v), 6) for v in point) for point in (long_a, long_b))
    short_axis = sorted(tuple(round(float(v), 6) for v in point) for point in (short_a, short_b))
    if math.dist(*short_axis) > math.dist(*long_axis):
        # Found at a finer step than the long axis's ends, so on a round lesion it can come
        # out a fraction of a pixel longer; the longer of two perpendicular chords is the long
        # axis by definition.
        long_axis, short_axis = short_axis, long_axis
    return RecistMarks(*long_axis[0], *long_axis[1], *short_axis[0], *short_axis[1])


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected foreground component of ``mask`` as bool (the first by
    OpenCV's label order where two are equally large)."""
    if mask.ndim != 2:
        raise ValueError(f"a mask is 2-D, got shape {mask.shape}")
    foreground = (mask != 0).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    if count < 2:
        raise EmptyMaskError("the mask has no foreground pixel")
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest


def _on_lesion(lesion: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether each point (x, y) lies within the lesion's outline: where the bilinear
    interpolation of the mask between pixel centres reaches 0.5 (the outline that marching
    squares draws), so a straight edge lies halfway between the pixels on either side of
    it whatever its direction."""
    x, y = np.atleast_1d(x).astype(np.float64), np.atleast_1d(y).astype(np.float64)
    left, top = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - left, y - top
    value = np.zeros(x.shape)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            value += wy * wx * _pixel(lesion, top + dy, left + dx)
    return value >= 0.5


def _pixel(lesion: np.ndarray, row: np.ndarray, column: np.ndarray) -> np.ndarray:
    """The mask at (row, column), background outside the frame."""
    rows, columns = lesion.shape
    inside = (column >= 0) & (column < columns) & (row >= 0) & (row < rows)
    result = np.zeros(column.shape, dtype=np.float64)
    result[inside] = lesion[row[inside], column[inside]]
    return result


def _outline_points(lesion: np.ndarray) -> np.ndarray:
    """The centres of the lesion's outline pixels (outer edge and holes) as (x, y)."""
    contours, _ = cv2.findContours(lesion.astype(np.uint8), cv2.RETR_LIST,
                                   cv2.CHAIN_APPROX_NONE)
    return np.unique(np.concatenate([c.reshape(-1, 2) for c in contours]), axis=0)


def _longest_chord(lesion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two outline pixel centres furthest apart whose segment stays on the lesion: the
    convex hull's vertices first (enough for a convex lesion), then the outline's points."""
    outline = _outline_points(lesion).astype(np.float64)
    if len(outline) == 1:
        return outline[0], outline[0]
    hull = cv2.convexHull(outline.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if len(outline) > MAX_CANDIDATE_POINTS:
        outline = outline[:: math.ceil(len(outline) / MAX_CANDIDATE_POINTS)]
    for points in (hull, outline):
        chord = _longest_inside_pair(lesion, points)
        if chord is not None:
            return chord
    # Unreachable for a connected lesion (neighbouring outline pixels always qualify); kept
    # so that a failure is a clear error rather than an axis off the lesion.
    raise EmptyMaskError("no chord of the lesion stays on it")


def _longest_inside_pair(lesion: np.ndarray, points: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray] | None:
    first, second = np.triu_indices(len(points), k=1)
    lengths = np.hypot(*(points[second] - points[first]).T)
    order = np.argsort(-lengths, kind="stable")
    for start in range(0, len(order), PAIRS_PER_BATCH):
        batch = order[start : start + PAIRS_PER_BATCH]
        a, b = points[first[batch]], points[second[batch]]
        samples = max(2, math.ceil(lengths[batch[0]] / CHORD_STEP_PX) + 1)
        fraction = np.linspace(0.0, 1.0, samples)[None, :, None]
        along = a[:, None, :] + fraction * (b - a)[:, None, :]
        stays = _on_lesion(lesion, along[..., 0], along[..., 1]).all(axis=1)
        if stays.any():
            found = int(np.argmax(stays))
            return a[found], b[found]
    return None


def _refined(lesion: np.ndarray, a: np.ndarray, b: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """The longest chord near the one from pixel centre ``a`` to ``b``: lines through points
    up to REFINE_SHIFT_PX beside its middle, turned up to REFINE_TURN_DEG, each run out to
    the outline both ways. Pixel centres quantise the direction; this recovers it."""
    length = math.dist(a, b)
    angle = math.atan2(*(b - a)[::-1]) if length else 0.0
    turns = angle + np.radians(np.linspace(-REFINE_TURN_DEG, REFINE_TURN_DEG, 61))
    units = np.stack([np.cos(turns), np.sin(turns)], axis=1)
    normal = np.array([-math.sin(angle), math.cos(angle)])
    shifts = np.linspace(-REFINE_SHIFT_PX, REFINE_SHIFT_PX, 9)
    centres = (a + b) / 2 + shifts[:, None] * normal[None, :]
    centres = centres[_on_lesion(lesion, centres[:, 0], centres[:, 1])]
    centres = np.repeat(centres, len(units), axis=0)
    units = np.tile(units, (len(centres) // len(units), 1))
    reach = length / 2 + 2 * REFINE_SHIFT_PX + 1
    forward = _run_out(lesion, centres, units, reach)
    backward = _run_out(lesion, centres, -units, reach)
    best = int(np.argmax(forward + backward))
    return (centres[best] - backward[best] * units[best],
            centres[best] + forward[best] * units[best])


def _run_out(lesion: np.ndarray, starts: np.ndarray, units: np.ndarray, reach: float
             ) -> np.ndarray:
    """How far each line from a point of ``starts`` along its ``units`` stays on the
    lesion, in SAMPLE_STEP_PX steps (half a step off the start, so that both edges of a
    pixel are found alike); 0 where the first step leaves it."""
    steps = np.arange(SAMPLE_STEP_PX / 2, reach + SAMPLE_STEP_PX, SAMPLE_STEP_PX)
    along = starts[:, None, :] + steps[None, :, None] * units[:, None, :]
    on = _on_lesion(lesion, along[..., 0], along[..., 1])
    n_on = np.where(on.all(axis=1), len(steps), np.argmin(on, axis=1))
    return np.where(n_on > 0, steps[np.maximum(n_on - 1, 0)], 0.0)


def _longest_perpendicular(lesion: np.ndarray, long_a: np.ndarray, long_b: np.ndarray,
                           unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The longest segment on the lesion perpendicular to the long axis through one of its
    points (every CHORD_STEP_PX of it)."""
    normal = np.array([-unit[1], unit[0]])
    length = math.dist(long_a, long_b)
    positions = np.append(np.arange(0.0, length, CHORD_STEP_PX), length)
    centres = long_a[None, :] + positions[:, None] * unit[None, :]
    normals = np.repeat(normal[None, :], len(centres), axis=0)
    forward = _run_out(lesion, centres, normals, length + 1)
    backward = _run_out(lesion, centres, -normals, length + 1)
    span = forward + backward
    # Near its maximum a convex lesion's width barely changes along the long axis, so pixel
    # noise decides which position measures longest. The peak of a parabola fitted to the
    # widths near the maximum places it where the lesion is widest; the short axis is the
    # chord within SPAN_TOLERANCE_PX of the longest that is nearest that peak.
    near_peak = span >= span.max() - PEAK_FIT_PX
    peak = positions[int(np.argmax(span))]
    if np.ptp(positions[near_peak]) > 0:
        curve = np.polyfit(positions[near_peak], span[near_peak], 2)
        if curve[0] < 0:
            peak = -curve[1] / (2 * curve[0])
    longest = np.flatnonzero(span >= span.max() - SPAN_TOLERANCE_PX)
    best = longest[int(np.argmin(np.abs(positions[longest] - peak)))]
    return centres[best] - backward[best] * normal, centres[best] + forward[best] * normal
