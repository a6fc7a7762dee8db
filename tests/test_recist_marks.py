"""RECIST marks measured on masks (``weaklesion.ellipses.recist_marks``) and the command that
writes them into ``lesions.csv`` (``python -m weaklesion recist-from-masks``).

"Inside the mask" is checked with scipy's bilinear interpolation of the mask
(``map_coordinates``, order 1, background beyond the frame) reaching 0.5, the outline the
module documents, computed here independently of its own sampling."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pytest
from cli_helpers import weaklesion
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.ndimage import map_coordinates
from skimage.draw import polygon as draw_polygon

from weaklesion.ellipses.fitting import Ellipse, ellipse_from_recist, rasterise_ellipse
from weaklesion.ellipses.recist_marks import (
    SAMPLE_STEP_PX,
    EmptyMaskError,
    RecistMarks,
    recist_from_mask,
)

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def axes(marks: RecistMarks) -> tuple[np.ndarray, np.ndarray]:
    points = marks.as_points()
    return points[1] - points[0], points[3] - points[2]


def angle_between_deg(u: np.ndarray, v: np.ndarray) -> float:
    cosine = abs(float(u @ v)) / (np.hypot(*u) * np.hypot(*v))
    return math.degrees(math.acos(min(cosine, 1.0)))


def points_along(a: np.ndarray, b: np.ndarray, step: float = 0.02) -> np.ndarray:
    count = max(2, math.ceil(math.dist(a, b) / step) + 1)
    return a[None, :] + np.linspace(0, 1, count)[:, None] * (b - a)[None, :]


# The module tests points every SAMPLE_STEP_PX along a line, so between two of them a line
# may graze the outline's corner by up to half a step; the interpolated mask changes by at
# most sqrt(2) per pixel, hence this much below 0.5 is still within the outline's reach.
GRAZE = SAMPLE_STEP_PX / 2 * math.sqrt(2)


def within_outline(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    values = map_coordinates(mask.astype(np.float64), [points[:, 1], points[:, 0]], order=1,
                             mode="grid-constant", cval=0.0)
    return values >= 0.5 - GRAZE


def segments_cross(marks: RecistMarks, tolerance_px: float = 1e-3) -> bool:
    """Whether the short axis crosses the long one (touching counts, up to the marks'
    rounding): where their lines meet lies on both segments."""
    a, b, c, d = marks.as_points()
    # a + s (b - a) = c + t (d - c), solved for s and t.
    s, t = np.linalg.solve(np.column_stack([b - a, c - d]), c - a)
    return all(-tolerance_px <= f * length <= length + tolerance_px
               for f, length in ((s, math.dist(a, b)), (t, math.dist(c, d))))


# --- known shapes ---------------------------------------------------------------------------


def test_filled_ellipses_measure_their_axes_within_a_pixel():
    rng = np.random.default_rng(7)
    for _ in range(40):
        short, long = sorted(rng.uniform(8, 70, 2))
        ellipse = Ellipse(rng.uniform(70, 90), rng.uniform(70, 90), short, long,
                          rng.uniform(0, 180))
        mask = rasterise_ellipse(ellipse, (160, 170))
        marks = recist_from_mask(mask)
        assert abs(marks.long_axis_length - long) <= 1.0, (ellipse, marks)
        assert abs(marks.short_axis_length - short) <= 1.0, (ellipse, marks)
        # The marks' own ellipse (the weak label a recist dataset trains on) sits where the
        # lesion does. Along the long axis the widest chord moves with the pixels' staircase
        # (measured up to 5 % of the length).
        weak_label = ellipse_from_recist(marks.as_points())
        assert math.dist(weak_label[:2], ellipse[:2]) <= 0.1 * long, (ellipse, marks)


def test_a_rectangle_measures_its_diagonal_and_the_chord_across_it():
    mask = np.zeros((50, 70), bool)
    mask[10:30, 15:55] = True  # 40 × 20 px
    marks = recist_from_mask(mask)
    # A diagonal: longer than the one between the corner pixels' centres, shorter than the
    # corners of their squares, which the outline rounds off.
    assert math.hypot(39, 19) < marks.long_axis_length < math.hypot(40, 20)
    long, short = axes(marks)
    assert angle_between_deg(long, short) == pytest.approx(90, abs=1e-4)  # 6 decimals


def test_one_pixel_measures_one_pixel_both_ways():
    mask = np.zeros((9, 9), np.uint8)
    mask[4, 6] = 255
    marks = recist_from_mask(mask)
    assert marks.long_axis_length == pytest.approx(1.0, abs=0.15)
    assert marks.short_axis_length == pytest.approx(1.0, abs=0.15)
    assert np.allclose(marks.as_points().mean(axis=0), [6, 4], atol=0.1)


def test_the_largest_lesion_is_measured_and_a_stray_blob_ignored():
    mask = rasterise_ellipse(Ellipse(60, 40, 20, 50, 0), (80, 120))
    mask[5:9, 5:9] = True
    points = recist_from_mask(mask).as_points()
    assert (points[:, 0] > 45).all()


def test_an_empty_mask_is_an_error():
    with pytest.raises(EmptyMaskError, match="no foreground"):
        recist_from_mask(np.zeros((10, 10), bool))


def test_on_a_c_shaped_lesion_the_long_axis_stays_on_it():
    mask = np.zeros((120, 120), np.uint8)
    cv2.ellipse(mask, (60, 60), (45, 45), 0, 40, 320, 1, thickness=9)
    marks = recist_from_mask(mask)
    long_a, long_b, short_a, short_b = marks.as_points()
    assert within_outline(mask, points_along(long_a, long_b)).all()
    # Far shorter than the ring's 99 px diameter, which crosses the gap.
    assert marks.long_axis_length < 95


# --- any mask -------------------------------------------------------------------------------


@st.composite
def blob_masks(draw) -> np.ndarray:
    """One to three overlapping polygons and ellipses on a small frame, touching its edges
    at times: convex, concave, thin and ragged lesions."""
    rows, columns = draw(st.integers(8, 40)), draw(st.integers(8, 40))
    mask = np.zeros((rows, columns), bool)
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            corners = draw(st.integers(3, 6))
            ys = [draw(st.floats(-2, rows + 1)) for _ in range(corners)]
            xs = [draw(st.floats(-2, columns + 1)) for _ in range(corners)]
            rr, cc = draw_polygon(ys, xs, shape=mask.shape)
            mask[rr, cc] = True
        else:
            mask |= rasterise_ellipse(Ellipse(
                draw(st.floats(0, columns)), draw(st.floats(0, rows)),
                draw(st.floats(1, 30)), draw(st.floats(1, 40)), draw(st.floats(0, 179))),
                mask.shape)
    if not mask.any():
        mask[rows // 2, columns // 2] = True
    return mask


@PROPERTY
@given(blob_masks())
def test_on_any_mask_the_axes_are_perpendicular_cross_and_lie_within_it(mask):
    marks = recist_from_mask(mask)
    long_a, long_b, short_a, short_b = marks.as_points()
    long, short = axes(marks)
    assert angle_between_deg(long, short) == pytest.approx(90, abs=2)
    assert marks.long_axis_length >= marks.short_axis_length > 0
    assert segments_cross(marks)
    for a, b in ((long_a, long_b), (short_a, short_b)):
        assert within_outline(mask, points_along(a, b)).all(), marks


# --- recist-from-masks ----------------------------------------------------------------------


def write_lesion(root, lesion_id: str, ellipse: Ellipse, shape=(90, 110), image_kind="png"):
    mask = rasterise_ellipse(ellipse, shape)
    image = np.where(mask[..., None], 200, 40).astype(np.uint8).repeat(3, axis=2)
    assert cv2.imwrite(str(root / "masks" / f"{lesion_id}.png"), mask.astype(np.uint8) * 255)
    assert cv2.imwrite(str(root / "images" / f"{lesion_id}.{image_kind}"), image)


@pytest.fixture
def masked_lesions(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    ellipses = {"case 1": Ellipse(50, 40, 16, 40, 20), "case_2": Ellipse(60, 45, 30, 44, 110)}
    write_lesion(tmp_path, "case 1", ellipses["case 1"], image_kind="jpg")
    write_lesion(tmp_path, "case_2", ellipses["case_2"])
    return tmp_path, ellipses


def test_recist_from_masks_writes_each_lesions_image_mask_and_marks(masked_lesions):
    root, ellipses = masked_lesions
    out = root / "lesions.csv"
    result = weaklesion("recist-from-masks", root / "masks", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "2 lesions measured" in result.stdout
    table = pd.read_csv(out, dtype={"id": str})
    assert list(table.columns) == ["id", "image", "mask", "x1", "y1", "x2", "y2",
                                   "x3", "y3", "x4", "y4"]
    assert list(table["id"]) == ["case 1", "case_2"]
    assert list(table["image"]) == ["images/case 1.jpg", "images/case_2.png"]
    for row in table.itertuples():
        assert (root / row.image).is_file() and (root / row.mask).is_file()
        marks = RecistMarks(*(getattr(row, c) for c in RecistMarks._fields))
        ellipse = ellipses[row.id]
        assert abs(marks.long_axis_length - ellipse.height) <= 1.0
        assert abs(marks.short_axis_length - ellipse.width) <= 1.0
        assert np.allclose(ellipse_from_recist(marks.as_points())[:2], ellipse[:2], atol=1.0)


def test_recist_from_masks_with_images_elsewhere_writes_paths_from_the_csvs_folder(
        masked_lesions, tmp_path_factory):
    root, _ = masked_lesions
    out = tmp_path_factory.mktemp("tables") / "lesions.csv"
    result = weaklesion("recist-from-masks", root / "masks", "--images", root / "images",
                        "--out", out)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    assert all((out.parent / path).resolve() == (root / "images" / path.split("/")[-1])
               for path in table["image"])


@pytest.mark.parametrize(("damage", "message"), [
    ("no image", "no image for the masks 'case_2'"),
    ("empty mask", "case_2.png: mask is empty"),
    ("grey levels", "case_2.png: mask is not binary"),
])
def test_recist_from_masks_bad_input_is_one_line_naming_the_file_and_writes_nothing(
        masked_lesions, damage, message):
    root, _ = masked_lesions
    if damage == "no image":
        (root / "images" / "case_2.png").unlink()
    else:
        mask = np.zeros((90, 110), np.uint8)
        if damage == "grey levels":
            mask[20:40, 20:40] = 128
            mask[40:50, 20:40] = 255
        assert cv2.imwrite(str(root / "masks" / "case_2.png"), mask)
    out = root / "lesions.csv"
    result = weaklesion("recist-from-masks", root / "masks", "--out", out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("weaklesion recist-from-masks: error:")
    assert message in lines[-1]
    assert not out.exists()
    assert not list(root.glob("*.csv*"))
