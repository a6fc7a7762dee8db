"""Ellipses as weak labels: fitting to masks, RECIST geometry, rasterising, GrabCut."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage.morphology import convex_hull_image

import weaklesion.ellipses.fitting as recist
from weaklesion.ellipses.fitting import (
    Ellipse,
    FitError,
    ellipse_from_recist,
    fit_ellipse_to_mask,
    mask_iou,
    rasterise_ellipse,
)
from weaklesion.weak_labels.grabcut import grabcut_target

SHAPE = (200, 200)


def analytic_mask(ellipse: Ellipse, shape=SHAPE) -> np.ndarray:
    """Pixels whose centres lie inside the ellipse; ``width`` along the direction ``angle``
    degrees clockwise on screen (x right, y down) from the x axis."""
    ys, xs = np.indices(shape)
    t = math.radians(ellipse.angle)
    dx, dy = xs - ellipse.cx, ys - ellipse.cy
    along = dx * math.cos(t) + dy * math.sin(t)
    across = -dx * math.sin(t) + dy * math.cos(t)
    return (along / (ellipse.width / 2)) ** 2 + (across / (ellipse.height / 2)) ** 2 <= 1


def canonical(ellipse) -> tuple[float, float, float, float, float]:
    """(cx, cy, major, minor, direction of the major axis mod 180): the same ellipse gives the
    same tuple whichever of its axes is called width."""
    cx, cy, width, height, angle = ellipse
    if width >= height:
        return cx, cy, width, height, angle % 180
    return cx, cy, height, width, (angle + 90) % 180


def angle_difference(a: float, b: float) -> float:
    return abs((a - b + 90) % 180 - 90)


def assert_same_ellipse(found, expected, *, px=1.0, degrees=1.0):
    f, e = canonical(found), canonical(expected)
    assert abs(f[0] - e[0]) <= px and abs(f[1] - e[1]) <= px, (found, expected)
    assert abs(f[2] - e[2]) <= px and abs(f[3] - e[3]) <= px, (found, expected)
    assert angle_difference(f[4], e[4]) <= degrees, (found, expected)


def random_ellipses(count: int, seed: int) -> list[Ellipse]:
    """Both axes ≥ 30 px and minor/major ≤ 0.6 (so the angle is well defined), either axis
    called width, any angle."""
    rng = np.random.default_rng(seed)
    ellipses = []
    for _ in range(count):
        minor = rng.uniform(30, 55)
        major = minor / rng.uniform(0.35, 0.6)
        width, height = (major, minor) if rng.random() < 0.5 else (minor, major)
        ellipses.append(Ellipse(rng.uniform(90, 110), rng.uniform(90, 110), width, height,
                                rng.uniform(0, 180)))
    return ellipses


# --- fitting to a mask ---------------------------------------------------------------------


@pytest.mark.parametrize("ellipse", random_ellipses(40, seed=7), ids=lambda e: f"{e.angle:.0f}")
def test_fit_recovers_known_ellipse(ellipse):
    fitted = fit_ellipse_to_mask(analytic_mask(ellipse))
    assert 0 <= fitted.angle < 180
    assert_same_ellipse(fitted, ellipse)


def test_fit_accepts_any_nonzero_mask_values():
    ellipse = Ellipse(100, 100, 80, 40, 30)
    as_255 = analytic_mask(ellipse).astype(np.uint8) * 255
    assert fit_ellipse_to_mask(as_255) == fit_ellipse_to_mask(as_255 > 0)


@pytest.mark.parametrize("ellipse", random_ellipses(20, seed=11), ids=lambda e: f"{e.angle:.0f}")
def test_rasterise_agrees_with_the_analytic_rasteriser_and_fits_back(ellipse):
    drawn = rasterise_ellipse(ellipse, SHAPE)
    assert drawn.dtype == bool and drawn.shape == SHAPE
    assert mask_iou(drawn, analytic_mask(ellipse)) >= 0.95
    assert_same_ellipse(fit_ellipse_to_mask(drawn), ellipse)


def test_rasterise_fills_pixel_centres_inside_not_a_pixel_more():
    # An axis-aligned circle of diameter 21 centred on a pixel: 10 px either side of centre.
    drawn = rasterise_ellipse(Ellipse(50, 40, 21, 21, 0), (100, 100))
    rows, cols = np.nonzero(drawn)
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (40, 60, 30, 50)


def test_empty_mask_is_a_fit_error():
    with pytest.raises(FitError, match="empty"):
        fit_ellipse_to_mask(np.zeros((20, 20), bool))


@pytest.mark.parametrize("name", ["single pixel", "horizontal line", "diagonal line"])
def test_fewer_than_five_hull_points_is_a_fit_error(name):
    mask = np.zeros((40, 40), bool)
    if name == "single pixel":
        mask[20, 20] = True
    elif name == "horizontal line":
        mask[20, 5:35] = True
    else:
        np.fill_diagonal(mask, True)
    with pytest.raises(FitError, match="hull has [0-4] points"):
        fit_ellipse_to_mask(mask)


def test_an_axis_aligned_rectangle_has_four_hull_points_and_cannot_be_fitted():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 5:35] = True
    with pytest.raises(FitError, match="hull has 4 points"):
        fit_ellipse_to_mask(mask)


def test_several_components_are_fitted_through_the_hull_of_all():
    ys, xs = np.indices(SHAPE)
    left = (xs - 60) ** 2 + (ys - 100) ** 2 <= 20**2
    right = (xs - 140) ** 2 + (ys - 100) ** 2 <= 20**2
    fitted = fit_ellipse_to_mask(left | right)
    # Symmetric about x = 100: the centre is midway, the long axis joins the two discs.
    cx, cy, major, minor, direction = canonical(fitted)
    assert abs(cx - 100) <= 0.5 and abs(cy - 100) <= 0.5
    assert angle_difference(direction, 0) <= 1
    assert major > 120 and minor >= 38
    # Filling the gap between them (pixel centres inside their hull) changes nothing.
    filled = convex_hull_image(left | right, offset_coordinates=False)
    assert filled.sum() > (left | right).sum() + 1000
    assert fit_ellipse_to_mask(filled) == fitted


# --- RECIST diameters ------------------------------------------------------------------------


def recist_endpoints(cx, cy, long_length, short_length, long_angle):
    """Long axis then short axis, each through the centre, the short one perpendicular."""
    t = math.radians(long_angle)
    long_half = np.array([math.cos(t), math.sin(t)]) * long_length / 2
    short_half = np.array([-math.sin(t), math.cos(t)]) * short_length / 2
    centre = np.array([cx, cy])
    return np.array([centre - long_half, centre + long_half,
                     centre - short_half, centre + short_half])


@pytest.mark.parametrize("long_angle", [0.0, 17.0, 45.0, 90.0, 133.0, 179.0, 200.0, -30.0])
def test_recist_gives_back_centre_lengths_and_angle(long_angle):
    endpoints = recist_endpoints(61.5, 48.25, 40.0, 22.0, long_angle)
    ellipse = ellipse_from_recist(endpoints)
    # width is the short diameter, measured along the short axis direction.
    assert ellipse.width == pytest.approx(22.0)
    assert ellipse.height == pytest.approx(40.0)
    assert (ellipse.cx, ellipse.cy) == pytest.approx((61.5, 48.25))
    assert 0 <= ellipse.angle < 180
    assert angle_difference(ellipse.angle, long_angle + 90) < 1e-6
    # The same ellipse, drawn: the long axis really lies along long_angle on screen.
    expected = Ellipse(61.5, 48.25, 40.0, 22.0, long_angle % 180)
    drawn = rasterise_ellipse(ellipse, (120, 120))
    assert mask_iou(drawn, analytic_mask(expected, (120, 120))) >= 0.9


def test_recist_endpoint_order_within_a_diameter_does_not_matter():
    endpoints = recist_endpoints(30, 40, 30, 12, 25)
    swapped = endpoints[[1, 0, 3, 2]]
    a, b = ellipse_from_recist(endpoints), ellipse_from_recist(swapped)
    assert np.allclose(a.as_array(), b.as_array(), atol=1e-4)


def test_segments_that_do_not_cross_at_their_midpoints_meet_where_their_lines_cross():
    # Long axis along y = 10 from x = 0 to 40; short axis x = 30, from y = 4 to 20: the lines
    # cross at (30, 10), a quarter from one end of the long axis, not at its midpoint.
    ellipse = ellipse_from_recist([[0, 10], [40, 10], [30, 4], [30, 20]])
    assert (ellipse.cx, ellipse.cy) == pytest.approx((30, 10))
    assert (ellipse.width, ellipse.height) == pytest.approx((16, 40))
    assert ellipse.angle == pytest.approx(90)


def test_segments_that_stop_short_of_each_other_still_give_their_lines_crossing():
    # The short segment (x = 50, y 12..20) does not reach the long one (y = 10).
    ellipse = ellipse_from_recist([[20, 10], [60, 10], [50, 12], [50, 20]])
    assert (ellipse.cx, ellipse.cy) == pytest.approx((50, 10))


@pytest.mark.parametrize(
    ("endpoints", "message"),
    [
        ([[0, 0], [10, 0], [0, 5], [10, 5]], "parallel"),
        ([[0, 0], [10, 10], [5, 0], [15, 10]], "parallel"),
        ([[3, 3], [3, 3], [0, 5], [10, 5]], "zero length"),
        ([[0, 0], [10, 0], [4, 4], [4, 4]], "zero length"),
        ([[0, 0], [10, 0], [5, np.nan], [5, 5]], "not finite"),
        ([[0, 0], [np.inf, 0], [5, -5], [5, 5]], "not finite"),
    ],
)
def test_degenerate_recist_is_a_fit_error(endpoints, message):
    with pytest.raises(FitError, match=message):
        ellipse_from_recist(np.array(endpoints, dtype=float))


def test_fit_error_is_a_value_error():
    assert issubclass(FitError, ValueError)


# --- GrabCut -------------------------------------------------------------------------------


def dark_lesion_on_skin(seed=0):
    """A two-lobed lesion (not an ellipse) darker than skin, RGB, with sensor noise."""
    ys, xs = np.indices((120, 120))
    lesion = ((xs - 50) ** 2 + (ys - 60) ** 2 < 20**2) | ((xs - 75) ** 2 + (ys - 55) ** 2 < 12**2)
    image = np.empty((120, 120, 3), np.float32)
    image[:] = (225, 180, 160)
    image[lesion] = (95, 60, 45)
    image += np.random.default_rng(seed).normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), lesion


def bounding_box(mask):
    rows, cols = np.nonzero(mask)
    return rows.min(), rows.max(), cols.min(), cols.max()


def test_grabcut_stays_in_the_ellipse_box_and_is_no_worse_than_the_ellipse():
    image, lesion = dark_lesion_on_skin()
    ellipse_mask = rasterise_ellipse(fit_ellipse_to_mask(lesion), lesion.shape)
    refined = grabcut_target(image, ellipse_mask)
    assert refined.dtype == bool and refined.shape == lesion.shape and refined.any()
    r0, r1, c0, c1 = bounding_box(ellipse_mask)
    outside_box = np.ones_like(refined)
    outside_box[r0 : r1 + 1, c0 : c1 + 1] = False
    assert not (refined & outside_box).any()
    assert mask_iou(refined, lesion) >= mask_iou(ellipse_mask, lesion)


def test_grabcut_falls_back_to_the_ellipse_when_it_keeps_nothing():
    # A black image looks like the blanked-out background everywhere: GrabCut keeps nothing.
    ellipse_mask = rasterise_ellipse(Ellipse(60, 60, 50, 30, 20), (120, 120))
    refined = grabcut_target(np.zeros((120, 120, 3), np.uint8), ellipse_mask)
    assert np.array_equal(refined, ellipse_mask)
    assert refined is not ellipse_mask


def test_grabcut_result_with_no_foreground_label_falls_back(monkeypatch):
    def keep_nothing(image, labels, rect, bgd, fgd, iterations, mode):
        labels[:] = cv2.GC_PR_BGD

    monkeypatch.setattr(recist.cv2, "grabCut", keep_nothing)
    image, lesion = dark_lesion_on_skin()
    ellipse_mask = rasterise_ellipse(fit_ellipse_to_mask(lesion), lesion.shape)
    assert np.array_equal(grabcut_target(image, ellipse_mask), ellipse_mask)


def test_grabcut_of_an_ellipse_covering_the_image_returns_the_ellipse():
    # GrabCut refuses a rectangle with no background around it.
    image, _ = dark_lesion_on_skin()
    whole = np.ones((120, 120), bool)
    assert np.array_equal(grabcut_target(image, whole), whole)


def test_grabcut_of_an_empty_ellipse_is_empty():
    image, _ = dark_lesion_on_skin()
    assert not grabcut_target(image, np.zeros((120, 120), bool)).any()


def test_mask_iou():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[0, :3] = True  # 3 px
    b[0, 1:] = True  # 3 px, 2 shared
    assert mask_iou(a, b) == pytest.approx(2 / 4)
    assert mask_iou(a, np.zeros_like(a)) == 0.0
    assert mask_iou(np.zeros_like(a), np.zeros_like(a)) == 1.0
