"""Ellipses drawn as the paper's released code drew its training targets: with matplotlib.

The released code rendered each weak-label ellipse as a matplotlib ``Ellipse`` patch over a
black ``imshow`` of the lesion's frame, on a 1×1-inch figure whose dpi is the frame's longer
side, so that one data unit is one pixel and pixel centres sit at integer coordinates. It
saved the figure with a tight bounding box and no padding, as PNG or (DeepLesion) JPEG, and
read the file back. The target's edge is shaped by matplotlib's antialiasing, by the stroke
width of the outline and by the JPEG encoder, so :class:`EllipseCanvas` runs those same steps
instead of imitating them: on the reference vectors it reproduces the released targets pixel
for pixel (``tests/test_protocol_parity.py``).

The ellipse is ``(cx, cy, width, height, angle)`` handed to matplotlib as given. Because
``imshow`` puts row 0 at the top, matplotlib's counter-clockwise angle turns the ``width`` axis
towards +y on the image, i.e. along ``(cos angle, sin angle)`` in (x, y-down) pixel
coordinates, which is OpenCV's RotatedRect convention.

:data:`RELEASED_RECIPES` says how each dataset's released target was drawn from its ellipse;
``protocol: corrected`` rasterises the ellipse exactly instead (:data:`EXACT_RECIPE`,
:func:`weaklesion.ellipses.fitting.rasterise_ellipse`).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import matplotlib.style
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from weaklesion import PATCH_SIZE

JPEG_QUALITY = 95
"""What matplotlib 3.3.3, the release's version, used by default (newer ones use 75)."""

ENCODINGS = ("png", "jpeg")


class EllipseCanvas:
    """One reusable figure drawing filled white ellipses on a black ``height``×``width`` frame.

    ``edge_pt`` is the width of the white outline in points (0: fill only); at the figure's
    dpi a point is ``dpi / 72`` pixels. ``encoding`` is the file format the drawing passes
    through. :meth:`draw` returns the decoded grey image, uint8, as the file holds it: where
    the frame is shorter than the figure by an odd number of pixels, the image starts half a
    pixel in, and the tight box that savefig rounds loses a row (or column), so a 31×46 frame
    comes back 30×46. The released code read those files as they were.
    """

    def __init__(self, height: int, width: int, *, edge_pt: float = 0.0,
                 encoding: str = "png"):
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
        self.shape = (int(height), int(width))
        self.encoding = encoding
        self.dpi = max(self.shape)
        # The project's figure style must not leak in: the released code drew with defaults.
        with matplotlib.style.context("default"):
            self.figure = Figure(figsize=(1, 1), dpi=self.dpi)
            FigureCanvasAgg(self.figure)
            axes = self.figure.add_axes((0, 0, 1, 1))
            axes.imshow(np.zeros(self.shape), cmap="gray", vmin=0, vmax=1)
            axes.axis("off")
            self.patch = Ellipse((0, 0), 1, 1, angle=0, facecolor="white",
                                 edgecolor="white", linewidth=edge_pt)
            axes.add_patch(self.patch)

    def draw(self, ellipse: Sequence[float]) -> np.ndarray:
        cx, cy, width, height, angle = (float(value) for value in ellipse)
        self.patch.set_center((cx, cy))
        self.patch.set_width(width)
        self.patch.set_height(height)
        self.patch.set_angle(angle)
        buffer = io.BytesIO()
        options = {"pil_kwargs": {"quality": JPEG_QUALITY}} if self.encoding == "jpeg" else {}
        with matplotlib.style.context("default"):
            self.figure.savefig(buffer, format=self.encoding, dpi=self.dpi,
                                bbox_inches="tight", pad_inches=0, **options)
        image = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_COLOR)
        # White on black: the channels are equal but for JPEG noise; the released code read
        # the first channel of the RGB image (red), which is OpenCV's last.
        return image[:, :, 2]


@functools.lru_cache(maxsize=8)
def canvas(height: int, width: int, edge_pt: float = 0.0, encoding: str = "png") -> EllipseCanvas:
    """A cached :class:`EllipseCanvas`: building a figure costs more than drawing on it."""
    return EllipseCanvas(height, width, edge_pt=edge_pt, encoding=encoding)


def draw_ellipse(ellipse: Sequence[float], frame: tuple[int, int], *, edge_pt: float = 0.0,
                 encoding: str = "png") -> np.ndarray:
    """The released rendering of ``ellipse`` on a ``frame`` = (rows, cols): uint8 0..255, of
    the frame's shape or a row or column short (see :class:`EllipseCanvas`)."""
    return canvas(int(frame[0]), int(frame[1]), float(edge_pt), encoding).draw(ellipse)


EXACT_RECIPE = "exact"
"""The target recipe of ``protocol: corrected``: the ellipse's own pixels on the patch."""


@dataclass(frozen=True)
class ReleasedRecipe:
    """How the released code turned one dataset's ellipse into its training target.

    ``edge_pt``: width of the white outline in points; ``encoding``: the file the drawing was
    saved as; ``threshold``: the fraction of full scale above which (``strict``) or from which
    a pixel became 1, or None where the target stayed soft.
    """

    edge_pt: float
    encoding: str
    threshold: float | None
    strict: bool = False


RELEASED_RECIPES = {
    # PROTOCOL item 7: filled, PNG at full image size, then >= 0.5.
    "ham10000": ReleasedRecipe(edge_pt=0.0, encoding="png", threshold=0.5),
    # Item 5: filled, PNG at crop size, never thresholded (its binarising step saw no files).
    "lits": ReleasedRecipe(edge_pt=0.0, encoding="png", threshold=None),
    # Item 1: filled *and* outlined 3 pt wide (5 px at 120 dpi), JPEG, then > 0.9.
    "deeplesion": ReleasedRecipe(edge_pt=3.0, encoding="jpeg", threshold=0.9, strict=True),
}


def draw_released_target(recipe: str, ellipse: Sequence[float], frame: tuple[int, int], *,
                         resize: bool = True) -> np.ndarray:
    """The released target of ``ellipse`` on ``frame`` (rows, cols) as uint8 levels: drawn,
    thresholded to 0/255 where the recipe did, resized to 120×120 by nearest neighbour (the
    released loader's mask resize) unless ``resize`` is False."""
    how = RELEASED_RECIPES[recipe]
    drawn = draw_ellipse(ellipse, frame, edge_pt=how.edge_pt, encoding=how.encoding)
    if how.threshold is not None:
        fraction = drawn / 255.0
        on = fraction > how.threshold if how.strict else fraction >= how.threshold
        drawn = np.where(on, 255, 0).astype(np.uint8)
    if not resize:
        return drawn
    return cv2.resize(drawn, (PATCH_SIZE, PATCH_SIZE), interpolation=cv2.INTER_NEAREST)
