"""Property-based tests of the ellipse fitter and the RECIST geometry on odd and hostile input.

Every mask gives either a FitError or an ellipse that is *right*: finite, centred on the mask,
about as large as the mask's convex hull and overlapping it. The hull and the checks are
computed here with scikit-image and numpy, independently of the OpenCV code under test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from skimage.draw import line as draw_line
from skimage.draw import polygon as draw_polygon
from skimage.morphology import convex_hull_image

from weaklesion.datasets.base import Lesion
from weaklesion.datasets.preprocess import weak_label
from weaklesion.ellipses.fitting import (
    Ellipse,
    FitError,
    ellipse_from_recist,
    fit_ellipse_to_mask,
    mask_iou,
    rasterise_ellipse,
)

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

# What "right" means for a fitted ellipse, as loose as a weak label may be: a triangle's
# circumscribed ellipse is 2.4 times its area and overlaps it with IoU 0.41.
MAX_AREA_FACTOR = 3.0
MIN_HULL_IOU = 0.3
SOLID = 0.7  # share of its convex hull a mask fills to count as one filled region


# --- masks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskCase:
    kind: str
    mask: np.ndarray  # bool

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        pixels = np.argwhere(self.mask).tolist()
        shown = pixels if len(pixels) <= 200 else f"{len(pixels)} pixels"
        return f"MaskCase({self.kind!r}, shape={self.mask.shape}, foreground={shown})"


shapes = st.tuples(st.integers(8, 96), st.integers(8, 96))


def analytic_ellipse(shape, cx, cy, a, b, angle) -> np.ndarray:
    """Pixels whose centres lie inside the ellipse with semi-axes a (along ``angle``) and b."""
    ys, xs = np.indices(shape)
    t = math.radians(angle)
    along = (xs - cx) * math.cos(t) + (ys - cy) * math.sin(t)
    across = -(xs - cx) * math.sin(t) + (ys - cy) * math.cos(t)
    return (along / a) ** 2 + (across / b) ** 2 <= 1


@st.composite
def ellipse_masks(draw, inside: bool) -> MaskCase:
    """A filled ellipse; ``inside`` keeps it clear of the border, else it may be cut off."""
    rows, cols = draw(st.tuples(st.integers(16, 96), st.integers(16, 96)) if inside else shapes)
    largest = (min(rows, cols) - 6) / 2 if inside else 60.0
    a, b = draw(st.floats(3.0, largest)), draw(st.floats(3.0, largest))
    angle = draw(st.floats(0.0, 180.0))
    if inside:
        reach = max(a, b) + 1.5
        cx, cy = draw(st.floats(reach, cols - 1 - reach)), draw(st.floats(reach, rows - 1 - reach))
    else:
        cx, cy = draw(st.floats(-a, cols + a)), draw(st.floats(-b, rows + b))
    mask = analytic_ellipse((rows, cols), cx, cy, a, b, angle)
    return MaskCase("ellipse" if inside else "ellipse at the border", mask)


@st.composite
def polygon_masks(draw) -> MaskCase:
    """A filled star-shaped polygon of 3 to 8 corners, possibly reaching past the border."""
    rows, cols = draw(shapes)
    corners = np.array(draw(st.lists(
        st.tuples(st.floats(-10, rows + 10), st.floats(-10, cols + 10)), min_size=3, max_size=8,
    )))
    centre = corners.mean(axis=0)
    corners = corners[np.argsort(np.arctan2(*(corners - centre).T))]
    mask = np.zeros((rows, cols), bool)
    mask[draw_polygon(corners[:, 0], corners[:, 1], (rows, cols))] = True
    return MaskCase(f"{len(corners)}-gon", mask)


@st.composite
def line_masks(draw) -> MaskCase:
    """A one-pixel digital line: horizontal, vertical, diagonal or at any slope."""
    rows, cols = draw(shapes)
    direction = draw(st.sampled_from(["horizontal", "vertical", "diagonal", "any"]))
    r0, c0 = draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))
    if direction == "horizontal":
        r1, c1 = r0, draw(st.integers(0, cols - 1))
    elif direction == "vertical":
        r1, c1 = draw(st.integers(0, rows - 1)), c0
    elif direction == "diagonal":
        step = draw(st.integers(-min(rows, cols), min(rows, cols)))
        r1 = min(max(r0 + step, 0), rows - 1)
        c1 = c0 + (r1 - r0) * draw(st.sampled_from([-1, 1]))
        assume(0 <= c1 < cols)
    else:
        r1, c1 = draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))
    mask = np.zeros((rows, cols), bool)
    mask[draw_line(r0, c0, r1, c1)] = True
    return MaskCase(f"{direction} line", mask)


@st.composite
def component_masks(draw) -> MaskCase:
    """Two to four discs (or single pixels) scattered over the frame."""
    rows, cols = draw(shapes)
    mask = np.zeros((rows, cols), bool)
    for _ in range(draw(st.integers(2, 4))):
        centre = (draw(st.floats(0, cols - 1)), draw(st.floats(0, rows - 1)))
        radius = draw(st.floats(0.4, 15))
        mask |= analytic_ellipse((rows, cols), *centre, radius, radius, 0)
    return MaskCase("components", mask)


@st.composite
def noise_masks(draw) -> MaskCase:
    rows, cols = draw(shapes)
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.floats(0.0, 1.0))
    mask = np.random.default_rng(seed).random((rows, cols)) < density
    return MaskCase("noise", mask)


@st.composite
def tiny_masks(draw) -> MaskCase:
    """Empty, full, one pixel or a handful of pixels."""
    rows, cols = draw(shapes)
    kind = draw(st.sampled_from(["empty", "full", "single pixel", "few pixels"]))
    mask = np.full((rows, cols), kind == "full")
    if kind == "single pixel":
        mask[draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))] = True
    elif kind == "few pixels":
        for _ in range(draw(st.integers(2, 6))):
            mask[draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))] = True
    return MaskCase(kind, mask)


any_mask = st.one_of(
    ellipse_masks(inside=True), ellipse_masks(inside=False), polygon_masks(), line_masks(),
    component_masks(), noise_masks(), tiny_masks(),
)


# --- what a right ellipse is -----------------------------------------------------------------


def touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def assert_right_ellipse(ellipse: Ellipse, case: MaskCase) -> None:
    mask = case.mask
    values = np.array(ellipse, dtype=float)
    assert np.isfinite(values).all(), ellipse
    assert ellipse.width > 0 and ellipse.height > 0, ellipse
    assert 0 <= ellipse.angle < 180, ellipse

    rows, cols = np.nonzero(mask)
    # A lesion cut off by the border may be centred beyond it, but the ellipse still reaches
    # the mask: its centre is at most half its long axis away from the mask's box.
    margin = 1.0 + (max(ellipse.width, ellipse.height) / 2 if touches_border(mask) else 0.0)
    assert cols.min() - margin <= ellipse.cx <= cols.max() + margin, (ellipse, case)
    assert rows.min() - margin <= ellipse.cy <= rows.max() + margin, (ellipse, case)

    hull = convex_hull_image(mask)
    drawn = rasterise_ellipse(ellipse, mask.shape)
    factor = drawn.sum() / hull.sum()
    assert 1 / MAX_AREA_FACTOR <= factor <= MAX_AREA_FACTOR, (ellipse, case, factor)
    if not touches_border(mask):
        analytic_area = math.pi * ellipse.width * ellipse.height / 4
        assert analytic_area <= MAX_AREA_FACTOR * hull.sum(), (ellipse, case)
    assert mask_iou(drawn, hull) >= MIN_HULL_IOU, (ellipse, case)
    if mask.sum() >= SOLID * hull.sum():
        # One filled region (not scattered pieces): the ellipse overlaps the mask itself.
        assert mask_iou(drawn, mask) >= MIN_HULL_IOU, (ellipse, case)


# --- the fitter --------------------------------------------------------------------------------


@FUZZ
@given(any_mask)
def test_every_mask_gives_a_right_ellipse_or_a_fit_error(case):
    try:
        ellipse = fit_ellipse_to_mask(case.mask)
    except FitError:
        return
    assert_right_ellipse(ellipse, case)


@FUZZ
@given(line_masks())
def test_a_one_pixel_line_is_refused(case):
    with pytest.raises(FitError):
        fit_ellipse_to_mask(case.mask)


@FUZZ
@given(tiny_masks())
def test_empty_full_and_single_pixel_masks_are_refused(case):
    assume(case.kind != "few pixels")  # scattered pixels are fitted through their hull
    with pytest.raises(FitError):
        fit_ellipse_to_mask(case.mask)


@pytest.mark.parametrize("shape", [(1, 1), (1, 30), (30, 1), (2, 2), (120, 120)])
def test_full_frame_masks_of_any_size_are_refused(shape):
    with pytest.raises(FitError):
        fit_ellipse_to_mask(np.ones(shape, bool))


def test_masks_that_are_not_2d_are_a_fit_error():
    disc = analytic_ellipse((40, 40), 20, 20, 10, 10, 0)
    for mask in (np.dstack([disc] * 3), np.dstack([disc] * 4), disc.ravel(), np.zeros((0, 0))):
        with pytest.raises(FitError):
            fit_ellipse_to_mask(mask)


@FUZZ
@given(ellipse_masks(inside=True))
def test_an_ellipse_clear_of_the_border_is_recovered(case):
    # Far enough from every limit of the degenerate-shape policy: it must be fitted.
    rows, cols = np.nonzero(case.mask)
    extent = min(np.ptp(rows), np.ptp(cols))
    assume(extent >= 5)
    ellipse = fit_ellipse_to_mask(case.mask)
    assert_right_ellipse(ellipse, case)
    # Fitted through the outermost pixel centres, the ellipse is about half a pixel smaller
    # than the lesion all round, which costs small lesions a larger share of their area.
    wanted = 0.85 if extent >= 16 else 0.6
    assert mask_iou(rasterise_ellipse(ellipse, case.mask.shape), case.mask) >= wanted


@FUZZ
@given(ellipse_masks(inside=False))
def test_an_ellipse_cut_off_by_the_border_still_matches_what_is_visible(case):
    try:
        ellipse = fit_ellipse_to_mask(case.mask)
    except FitError:
        return
    assert_right_ellipse(ellipse, case)
    # Where the fit succeeds on a cut-off ellipse, it extrapolates the visible arc.
    assume(case.mask.sum() >= 30)
    assert mask_iou(rasterise_ellipse(ellipse, case.mask.shape), case.mask) >= 0.6


@pytest.mark.parametrize(
    "corners",
    [
        # (row, col). OpenCV's least-squares conic through these hulls, whose points bunch at
        # three corners, lands on one side of the triangle, a fraction of its size.
        [(20.5, 10.2), (100.3, 60.7), (20.1, 110.6)],
        [(100.5, 10.5), (100.5, 110.5), (20.5, 60.5)],
        [(40.5, 20.5), (100.5, 100.5), (20.5, 100.5)],
    ],
)
def test_triangles_are_fitted_right_or_refused(corners):
    mask = np.zeros((120, 120), bool)
    mask[draw_polygon([r for r, _ in corners], [c for _, c in corners], mask.shape)] = True
    try:
        ellipse = fit_ellipse_to_mask(mask)
    except FitError as error:
        assert "not ellipse-like" in str(error) or "centred outside" in str(error)
        return
    assert_right_ellipse(ellipse, MaskCase("triangle", mask))


@FUZZ
@given(any_mask, st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64]),
       st.integers(1, 255))
def test_the_fit_depends_only_on_which_pixels_are_foreground(case, dtype, scale):
    # Non-binary, 16-bit, signed and float masks: any value > 0 is foreground, ≤ 0 is not.
    values = case.mask.astype(dtype) * dtype(scale)
    if np.issubdtype(dtype, np.signedinteger) or np.issubdtype(dtype, np.floating):
        values = np.where(case.mask, values, dtype(-scale))
    try:
        expected = fit_ellipse_to_mask(case.mask)
    except FitError as error:
        with pytest.raises(FitError) as raised:
            fit_ellipse_to_mask(values)
        assert str(raised.value) == str(error)
        return
    assert fit_ellipse_to_mask(values) == expected


# --- the preprocess worker's weak label --------------------------------------------------------


def _lesion(mask: np.ndarray) -> Lesion:
    image = np.zeros((*mask.shape, 3), np.uint8)
    return Lesion("id", "group", "source.png", image, mask=mask)


@FUZZ
@given(any_mask, st.sampled_from([None, 0.4]))
def test_weak_label_keeps_right_ellipses_with_their_true_iou(case, min_iou):
    try:
        kept = weak_label(_lesion(case.mask), min_iou)
    except FitError:
        return
    ellipse = Ellipse(*map(float, kept.ellipse))
    assert_right_ellipse(ellipse, case)
    # The stored IoU is the filled ellipse's against the mask, recomputed here by hand.
    drawn = rasterise_ellipse(ellipse, case.mask.shape)
    inter, union = (drawn & case.mask).sum(), (drawn | case.mask).sum()
    assert kept.iou == pytest.approx(inter / union, abs=1e-6)
    if min_iou is not None:
        assert kept.iou >= min_iou


# --- RECIST ------------------------------------------------------------------------------------


coordinates = st.one_of(
    st.floats(-200, 200),
    st.integers(-5, 130).map(float),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e300, -1e300, 1.7976931348623157e308]),
)


TURNS = (90.0, 89.0, 45.0, 1.0, 1e-6, 0.0)  # degrees between the two diameters


@st.composite
def recist_like(draw, turns=TURNS, nudge=True) -> np.ndarray:
    """Endpoints drawn as an annotator would (segments crossing somewhere along both), at
    ``turns`` degrees apart, then perhaps nudged: an endpoint copied onto another."""
    cx, cy = draw(st.floats(-50, 200)), draw(st.floats(-50, 200))
    long_len, short_len = draw(st.floats(0.01, 300)), draw(st.floats(0.01, 300))
    angle = math.radians(draw(st.floats(-360, 360)))
    turn = math.radians(draw(st.sampled_from(turns)))
    s, t = draw(st.floats(0.0, 1.0)), draw(st.floats(0.0, 1.0))
    u = np.array([math.cos(angle), math.sin(angle)])
    v = np.array([math.cos(angle + turn), math.sin(angle + turn)])
    centre = np.array([cx, cy])
    points = np.array([centre - s * long_len * u, centre + (1 - s) * long_len * u,
                       centre - t * short_len * v, centre + (1 - t) * short_len * v])
    if nudge and draw(st.booleans()):
        points[draw(st.integers(0, 3))] = points[draw(st.integers(0, 3))]
    return points


def _cross(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def assert_recist_contract(points: np.ndarray, ellipse: Ellipse) -> None:
    long_a, long_b, short_a, short_b = points
    values = np.array(ellipse, dtype=float)
    assert np.isfinite(values).all() and 0 <= ellipse.angle < 180, ellipse
    long_len = math.hypot(*(long_b - long_a))
    short_len = math.hypot(*(short_b - short_a))
    assert ellipse.height == pytest.approx(long_len, rel=1e-9), ellipse
    assert ellipse.width == pytest.approx(short_len, rel=1e-9), ellipse
    # The centre lies on both lines: its distance to each, relative to the numbers' size.
    centre = np.array([ellipse.cx, ellipse.cy])
    scale = max(1.0, float(np.abs(points).max()), long_len, short_len)
    for a, b, length in ((long_a, long_b, long_len), (short_a, short_b, short_len)):
        distance = abs(_cross(centre - a, (b - a) / length))
        assert distance <= 1e-6 * scale, (ellipse, distance)
    # The width is measured along the short axis direction.
    direction = np.array([math.cos(math.radians(ellipse.angle)),
                          math.sin(math.radians(ellipse.angle))])
    assert abs(_cross(direction, (short_b - short_a) / short_len)) <= 1e-9


@FUZZ
@given(st.one_of(recist_like(), st.lists(coordinates, min_size=8, max_size=8).map(
    lambda values: np.array(values).reshape(4, 2))))
def test_recist_gives_the_crossing_and_the_lengths_or_a_fit_error(points):
    try:
        ellipse = ellipse_from_recist(points)
    except FitError:
        return
    assert_recist_contract(points, ellipse)
    # Whatever is returned can be drawn, or is refused the same way.
    try:
        drawn = rasterise_ellipse(ellipse, (120, 120))
    except FitError:
        return
    assert drawn.shape == (120, 120) and drawn.dtype == bool


@FUZZ
@given(recist_like(turns=(90.0, 60.0, 120.0), nudge=False))
def test_recist_of_diameters_crossing_each_other_is_never_refused(points):
    assert_recist_contract(points, ellipse_from_recist(points))


@pytest.mark.parametrize(
    "ellipse",
    [Ellipse(math.nan, 5, 10, 10, 0), Ellipse(5, 5, math.inf, 10, 0),
     Ellipse(5, 5, 10, 10, math.nan), Ellipse(5, 5, -10, 10, 0)],
)
def test_an_ellipse_that_is_not_finite_cannot_be_drawn(ellipse):
    with pytest.raises(FitError):
        rasterise_ellipse(ellipse, (120, 120))


@pytest.mark.parametrize(
    ("ellipse", "expected"),
    [
        (Ellipse(1e12, 5, 10, 10, 0), "empty"),  # far outside the frame
        (Ellipse(60, 60, 1e12, 1e12, 33), "full"),  # far larger than the frame
        (Ellipse(60, 60, 1e12, 10, 0), "band"),  # a band 10 px high across the frame
        (Ellipse(60, 60, 0, 10, 0), "empty"),  # no area
    ],
)
def test_huge_far_and_flat_ellipses_are_drawn_exactly(ellipse, expected):
    drawn = rasterise_ellipse(ellipse, (120, 120))
    rows = np.arange(120)
    band = np.zeros((120, 120), bool)
    band[(rows >= 55) & (rows <= 65)] = True  # centres within 5 px of row 60
    wanted = {"empty": np.zeros((120, 120), bool), "full": np.ones((120, 120), bool),
              "band": band}[expected]
    np.testing.assert_array_equal(drawn, wanted)


@FUZZ
@given(st.floats(-20, 140), st.floats(-20, 140), st.floats(0.1, 200), st.floats(0.1, 200),
       st.floats(0, 180), shapes)
def test_the_filled_ellipse_is_the_pixels_whose_centres_lie_inside(cx, cy, w, h, angle, shape):
    # Small ones too: drawn as a polygon, an ellipse under 3 px became a diamond.
    expected = analytic_ellipse(shape, cx, cy, w / 2, h / 2, angle)
    drawn = rasterise_ellipse(Ellipse(cx, cy, w, h, angle), shape)
    # Pixel centres exactly on the outline may go either way in floating point.
    assert (drawn != expected).sum() <= max(2, 0.01 * expected.sum())
