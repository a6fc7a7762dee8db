"""Patches with an ellipse or a mask contour drawn over them, and their display in a panel.

Drawing happens on an enlarged copy of the patch (each pixel repeated ``scale`` times), so a
line can be thinner than a patch pixel and the mask's own pixels stay visible underneath.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from matplotlib.axes import Axes

from weaklesion.errors import WeaklesionError

SCALE = 3  # tile pixels per patch pixel
LINE_WIDTH = 0.75  # in patch pixels
_SHIFT = 8  # OpenCV fractional bits for sub-pixel ellipse geometry

RGB = tuple[int, int, int]


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A (H, W) grey or (H, W, 3) RGB patch as a (H, W, 3) uint8 array."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise WeaklesionError(f"expected a (H, W) or (H, W, 3) patch, got shape {image.shape}")
    return np.ascontiguousarray(image, dtype=np.uint8)


def enlarge(array: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """Repeat every pixel ``scale`` times along both axes (nearest-neighbour enlargement)."""
    return np.ascontiguousarray(np.asarray(array).repeat(scale, axis=0).repeat(scale, axis=1))


def tile_coordinate(value: float, scale: int = SCALE) -> float:
    """Position in the enlarged tile of a patch coordinate (pixel centres at integers)."""
    return (value + 0.5) * scale - 0.5


def _thickness(line_width: float, scale: int) -> int:
    return max(1, round(line_width * scale))


def ellipse_overlay(image: np.ndarray, ellipse: Sequence[float], *, colour: RGB,
                    scale: int = SCALE, line_width: float = LINE_WIDTH) -> np.ndarray:
    """The enlarged patch with the outline of ``ellipse`` drawn over it.

    ``ellipse`` is ``(cx, cy, width, height, angle)`` in OpenCV's RotatedRect convention (the
    convention of :mod:`weaklesion.ellipses.fitting`): ``width`` turned ``angle`` degrees
    clockwise on screen, which ``cv2.ellipse`` draws as it is.
    """
    cx, cy, width, height, angle = (float(v) for v in ellipse)
    if not np.isfinite([cx, cy, width, height, angle]).all():
        raise WeaklesionError(f"cannot draw the ellipse {tuple(ellipse)}: not finite")
    tile = enlarge(as_rgb(image), scale)
    unit = 1 << _SHIFT
    centre = (round(tile_coordinate(cx, scale) * unit), round(tile_coordinate(cy, scale) * unit))
    axes = (round(width / 2 * scale * unit), round(height / 2 * scale * unit))
    cv2.ellipse(tile, centre, axes, angle, 0, 360, tuple(map(int, colour)),
                _thickness(line_width, scale), cv2.LINE_AA, _SHIFT)
    return tile


def contour_overlay(image: np.ndarray, mask: np.ndarray | None, *, colour: RGB,
                    scale: int = SCALE, line_width: float = LINE_WIDTH) -> np.ndarray:
    """The enlarged patch with the outline of ``mask`` (every boundary, holes included) drawn
    along its outermost foreground pixels; ``None`` or an empty mask draws nothing."""
    tile = enlarge(as_rgb(image), scale)
    if mask is None:
        return tile
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != np.shape(image)[:2]:
        raise WeaklesionError(f"mask of shape {mask.shape} does not fit a patch of shape "
                              f"{np.shape(image)[:2]}")
    big = enlarge(mask.astype(np.uint8), scale)
    contours, _ = cv2.findContours(big, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(tile, contours, -1, tuple(map(int, colour)),
                     _thickness(line_width, scale), cv2.LINE_AA)
    return tile


def show_tile(ax: Axes, tile: np.ndarray) -> None:
    """Show a tile without ticks or frame, keeping room for a row label on the left."""
    ax.imshow(tile, interpolation="antialiased")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def blank_tile(ax: Axes) -> None:
    """An empty slot of a grid (a cluster with fewer members than columns)."""
    ax.set_axis_off()


def annotate(ax: Axes, text: str) -> None:
    """A short label in the tile's lower left corner, readable on light and dark patches."""
    ax.text(0.03, 0.03, text, transform=ax.transAxes, fontsize=7, color="white",
            ha="left", va="bottom",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "black", "alpha": 0.6,
                  "linewidth": 0})
