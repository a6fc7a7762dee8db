"""The paper's metrics against the released code's outputs, hand-computed values and
independent per-image references.

The references here are written from the definitions, one image at a time: overlap counts with
numpy, the released code's Canny (scikit-image 0.18.1's steps, in ``canny_reference.py``) for
edges, medpy's ``hd``/``hd95`` recipe with scipy's distance transform and ``np.percentile``,
and brute-force pairwise distances. The benchmark in ``benchmarks/bench_metrics.py`` reuses
them. The released code's own numbers are in ``paper_metric_vectors.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import paper_metric_vectors
import pytest
import scipy.ndimage as ndi
from canny_reference import (
    LOW_THRESHOLD,
    edges_from_gradients,
    gradients,
    paper_canny,
    paper_edge_count,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist
from skimage.feature import canny

from weaklesion.errors import WeaklesionError
from weaklesion.evaluation import canny as canny_kernel
from weaklesion.evaluation.metrics import (
    LOWER_IS_BETTER,
    METRIC_COLUMNS,
    as_mask_stack,
    bounding_boxes,
    fill_empty_predictions,
    lesion_metrics,
    window_diagonal,
)

# --- independent per-image references ---------------------------------------------------------


def medpy_surface(mask: np.ndarray) -> np.ndarray:
    """medpy: the mask XOR its erosion with a connectivity-1 structure (border = background)."""
    footprint = ndi.generate_binary_structure(mask.ndim, 1)
    return mask ^ ndi.binary_erosion(mask, structure=footprint, iterations=1)


def medpy_surface_distances(result: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """medpy's ``__surface_distances``: from each result surface pixel to the reference's."""
    distance_to_reference = ndi.distance_transform_edt(~medpy_surface(reference))
    return distance_to_reference[medpy_surface(result)]


def reference_row(
    gt: np.ndarray, pred: np.ndarray, edge_count: Callable[[np.ndarray], int] = paper_edge_count
) -> dict[str, float]:
    """All metrics of one lesion with a non-empty GT and prediction, from the definitions;
    ``edge_count`` counts a mask's Canny edge pixels."""
    gt = gt.astype(bool)
    pred = pred.astype(bool)
    tp = int(np.sum(gt & pred))
    fp = int(np.sum(~gt & pred))
    fn = int(np.sum(gt & ~pred))
    rows_g, cols_g = np.nonzero(gt)
    rows_p, cols_p = np.nonzero(pred)
    centre_g = ((rows_g.min() + rows_g.max()) / 2, (cols_g.min() + cols_g.max()) / 2)
    centre_p = ((rows_p.min() + rows_p.max()) / 2, (cols_p.min() + cols_p.max()) / 2)
    d_row = centre_g[0] - centre_p[0]
    d_col = centre_g[1] - centre_p[1]
    hd1 = medpy_surface_distances(pred, gt)
    hd2 = medpy_surface_distances(gt, pred)
    return {
        "iou": 100 * tp / (tp + fp + fn),
        "dice": 100 * (2 * tp) / (2 * tp + fp + fn),
        "vs": 100 * (1 - abs(fn - fp) / (2 * tp + fp + fn)),
        "center_error": float(np.sqrt(d_row * d_row + d_col * d_col)),
        "perimeter_error": abs(edge_count(gt) - edge_count(pred)) / 2,
        "hausdorff": max(hd1.max(), hd2.max()),
        "hd95": np.percentile(np.hstack((hd1, hd2)), 95),
    }


def reference_table(
    gt: np.ndarray, pred: np.ndarray, edge_count: Callable[[np.ndarray], int] = paper_edge_count
) -> pd.DataFrame:
    """Per-image loop over a stack with non-empty GTs, then the paper's empty-prediction rule:
    the largest distance of the set (the window diagonal if there is none)."""
    rows = [reference_row(g, p, edge_count) if p.any() else None
            for g, p in zip(gt, pred, strict=True)]
    scored = [row for row in rows if row is not None]
    height, width = gt.shape[1:]
    worst = {
        column: max((row[column] for row in scored), default=math.hypot(height - 1, width - 1))
        for column in ("center_error", "hausdorff", "hd95")
    }
    for k, row in enumerate(rows):
        if row is None:
            perimeter = edge_count(gt[k]) / 2
            rows[k] = {"iou": 0.0, "dice": 0.0, "vs": 0.0, "perimeter_error": perimeter, **worst}
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def brute_force_hausdorff(gt: np.ndarray, pred: np.ndarray) -> float:
    """Symmetric Hausdorff distance of the two surfaces, by all pairwise distances."""
    distances = cdist(np.argwhere(medpy_surface(gt)), np.argwhere(medpy_surface(pred)))
    return max(distances.min(axis=1).max(), distances.min(axis=0).max())


# --- random lesion-like masks -----------------------------------------------------------------


def ellipse(shape, centre, axes, angle) -> np.ndarray:
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    dr, dc = rows - centre[0], cols - centre[1]
    u = dr * math.cos(angle) + dc * math.sin(angle)
    v = -dr * math.sin(angle) + dc * math.cos(angle)
    return (u / axes[0]) ** 2 + (v / axes[1]) ** 2 <= 1


def random_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Lesion-like and awkward masks: ellipses (some cut by the border), unions, rectangles,
    single pixels, thin lines, speckled blobs with holes."""
    height, width = shape
    kind = rng.integers(7)
    if kind <= 1:
        centre = rng.uniform(-0.1, 1.1, 2) * shape
        axes = rng.uniform(0.5, max(1.0, min(shape) / 2), 2)
        return ellipse(shape, centre, axes, rng.uniform(0, math.pi))
    if kind == 2:
        return np.logical_or.reduce([random_mask(rng, shape) for _ in range(rng.integers(2, 4))])
    mask = np.zeros(shape, dtype=bool)
    if kind == 3:
        r0, r1 = np.sort(rng.integers(0, height, 2))
        c0, c1 = np.sort(rng.integers(0, width, 2))
        mask[r0 : r1 + 1, c0 : c1 + 1] = True
    elif kind == 4:
        mask[rng.integers(height), rng.integers(width)] = True
    elif kind == 5:
        length = rng.integers(1, max(height, width))
        row, col = rng.integers(height), rng.integers(width)
        step = [(0, 1), (1, 0), (1, 1), (1, -1)][rng.integers(4)]
        for k in range(length):
            r, c = row + k * step[0], col + k * step[1]
            if 0 <= r < height and 0 <= c < width:
                mask[r, c] = True
    else:
        centre = rng.uniform(0.2, 0.8, 2) * shape
        axes = rng.uniform(2, max(3.0, min(shape) / 2.5), 2)
        mask = ellipse(shape, centre, axes, rng.uniform(0, math.pi))
        mask ^= mask & (rng.random(shape) < 0.08)
    return mask


def perturbed(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """A plausible prediction of ``mask``: shifted, grown or shrunk, with ragged borders."""
    shifted = np.roll(mask, tuple(rng.integers(-4, 5, 2)), axis=(0, 1))
    step = rng.integers(-2, 3)
    if step > 0:
        shifted = ndi.binary_dilation(shifted, iterations=int(step))
    elif step < 0:
        shifted = ndi.binary_erosion(shifted, iterations=int(-step))
    ragged = ndi.binary_dilation(shifted) & ~ndi.binary_erosion(shifted)
    return shifted ^ (ragged & (rng.random(mask.shape) < 0.15))


def random_pairs(
    rng: np.random.Generator, n: int, shape: tuple[int, int] = (120, 120)
) -> tuple[np.ndarray, np.ndarray]:
    """GT masks (never empty) and predictions: close ones, unrelated ones and a few empty."""
    gt = np.zeros((n, *shape), dtype=bool)
    pred = np.zeros((n, *shape), dtype=bool)
    for k in range(n):
        while not gt[k].any():
            gt[k] = random_mask(rng, shape)
        choice = rng.random()
        if choice < 0.6:
            pred[k] = perturbed(rng, gt[k])
        elif choice < 0.95:
            pred[k] = random_mask(rng, shape)
    return gt, pred


# --- hand-computed cases ----------------------------------------------------------------------


def square(shape, top, left, side) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_offset_squares_give_hand_computed_overlap_and_centre_error():
    gt = square((60, 60), 20, 20, 10)
    pred = square((60, 60), 23, 24, 10)  # 7 × 6 = 42 pixels shared, 58 + 58 not
    row = lesion_metrics(gt[None], pred[None]).iloc[0]
    assert row["iou"] == pytest.approx(100 * 42 / 158)
    assert row["dice"] == pytest.approx(42.0)
    assert row["vs"] == pytest.approx(100.0)  # equal sizes: FN = FP
    assert row["center_error"] == pytest.approx(5.0)  # offset (3, 4)


def test_nested_squares_give_hand_computed_scores_and_distances():
    gt = square((50, 50), 20, 20, 10)  # 100 pixels
    pred = square((50, 50), 18, 18, 14)  # 196 pixels, 2 px wider on every side
    row = lesion_metrics(gt[None], pred[None]).iloc[0]
    assert row["iou"] == pytest.approx(100 * 100 / 196)
    assert row["dice"] == pytest.approx(100 * 200 / 296)
    assert row["vs"] == pytest.approx(100 * (1 - 96 / 296))
    assert row["center_error"] == 0.0
    # Every GT outline pixel is 2 px from the pred outline; the pred outline's 4 corners are
    # √8 away and their 8 neighbours √5: 76 × 2, 8 × √5, 4 × √8, whose 95th percentile
    # (position 0.95 × 87 = 82.65) falls between two √5.
    assert row["hausdorff"] == pytest.approx(math.sqrt(8))
    assert row["hd95"] == pytest.approx(math.sqrt(5))


def test_two_single_pixels():
    gt = np.zeros((1, 40, 40), dtype=bool)
    pred = np.zeros((1, 40, 40), dtype=bool)
    gt[0, 10, 10] = True
    pred[0, 13, 14] = True
    row = lesion_metrics(gt, pred).iloc[0]
    assert (row["iou"], row["dice"], row["vs"]) == (0.0, 0.0, 100.0)
    assert row["center_error"] == pytest.approx(5.0)
    assert row["hausdorff"] == pytest.approx(5.0)
    assert row["hd95"] == pytest.approx(5.0)


def test_shifted_square_hausdorff_is_the_shift():
    gt = square((60, 60), 20, 20, 10)
    pred = square((60, 60), 20, 25, 10)
    assert lesion_metrics(gt[None], pred[None]).loc[0, "hausdorff"] == pytest.approx(5.0)


def test_far_apart_masks_beyond_the_nearest_first_search():
    gt = square((120, 120), 0, 0, 5)
    pred = square((120, 120), 100, 90, 20)
    row = lesion_metrics(gt[None], pred[None]).iloc[0]
    assert row["hausdorff"] == brute_force_hausdorff(gt, pred)
    assert row["hausdorff"] == pytest.approx(math.hypot(119 - 4, 109 - 4))


def test_large_images_score_like_the_references():
    # User masks can be photographs: distances far beyond the nearest-first search radius,
    # and the look-up tables must not grow with the image.
    shape = (900, 1400)
    gt = np.stack([square(shape, 40, 50, 30), ellipse(shape, (450, 700), (200, 120), 0.4)])
    pred = np.stack([square(shape, 700, 1200, 60), ellipse(shape, (455, 690), (190, 130), 0.5)])
    table = lesion_metrics(gt, pred)
    pd.testing.assert_frame_equal(
        table[METRIC_COLUMNS], reference_table(gt, pred), check_exact=True
    )
    assert table.loc[0, "hausdorff"] == brute_force_hausdorff(gt[0], pred[0]) > 1000


def test_identical_masks_score_perfectly():
    gt = np.stack([square((30, 30), 5, 5, 12), ellipse((30, 30), (15, 15), (9, 4), 0.3)])
    table = lesion_metrics(gt, gt.copy())
    assert (table[["iou", "dice", "vs"]] == 100.0).all().all()
    assert (table[["center_error", "perimeter_error", "hausdorff", "hd95"]] == 0.0).all().all()


# --- agreement with the references ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(120, 120), (37, 53)])
def test_random_masks_match_the_per_image_references_exactly(shape):
    rng = np.random.default_rng(20210707 + shape[0])
    gt, pred = random_pairs(rng, 120, shape)
    assert 0 < (~pred.any(axis=(1, 2))).sum() < 20
    table = lesion_metrics(gt, pred)
    pd.testing.assert_frame_equal(
        table[METRIC_COLUMNS], reference_table(gt, pred), check_exact=True
    )


# --- the released code's own numbers ---------------------------------------------------------

# The released code's metrics come from other arithmetic (numpy over whole masks, medpy), so
# its floats are matched to this; its edge maps, and so the perimeter error, exactly.
PAPER_TOLERANCE = 1e-4
PAPER_COLUMNS = ("iou", "dice", "vs", "center_error", "perimeter_error", "hausdorff")


@pytest.fixture(scope="module")
def paper() -> dict[str, np.ndarray]:
    return paper_metric_vectors.load()


def test_metrics_equal_the_released_codes_on_its_vectors(paper):
    table = lesion_metrics(paper["gt"], paper["pred"])
    empty = paper["pred_empty"]
    assert table["pred_empty"].tolist() == empty.tolist() and 0 < empty.sum() < len(empty)
    for column in PAPER_COLUMNS:
        np.testing.assert_allclose(table[column], paper[column], rtol=0, atol=PAPER_TOLERANCE,
                                   err_msg=column)
    fills = {"center_error": paper["empty_fill_center_error"],
             "hausdorff": paper["empty_fill_hausdorff"]}
    for column, fill in fills.items():
        np.testing.assert_allclose(table.loc[empty, column], fill, rtol=0, atol=PAPER_TOLERANCE,
                                   err_msg=column)
    np.testing.assert_array_equal(table.loc[empty, "perimeter_error"],
                                  paper["gt_edge_px"][empty] / 2)


def canny_edges(masks) -> np.ndarray:
    """The edge maps whose pixels the perimeter error counts, from the same compiled loop."""
    masks = as_mask_stack(masks, "masks")
    return canny_kernel.edge_maps(masks, bounding_boxes(masks))


def test_canny_edges_equal_the_released_codes_edge_maps(paper):
    for masks, maps, counts in (("gt", "gt_canny", "gt_edge_px"),
                                ("pred", "pred_canny", "pred_edge_px")):
        edges = canny_edges(paper[masks])
        differing = np.flatnonzero((edges != paper[maps]).any(axis=(1, 2)))
        assert differing.size == 0, f"{masks}: edge maps of lesions {differing[:10]} differ"
        kernel_counts = canny_kernel.edge_counts(paper[masks] != 0, bounding_boxes(paper[masks]))
        np.testing.assert_array_equal(kernel_counts, paper[counts])


def test_the_numpy_reference_reproduces_the_released_edge_maps(paper):
    masks = np.concatenate([paper["gt"], paper["pred"]])
    maps = np.concatenate([paper["gt_canny"], paper["pred_canny"]])
    np.testing.assert_array_equal(np.stack([paper_canny(mask) for mask in masks]), maps)
    # The vectors tell the definitions apart: scikit-image's default Canny of the bool mask
    # (thresholds 0.1 and 0.2) finds other edges on a third of them.
    default = np.stack([canny(mask.astype(bool)) for mask in masks])
    assert (default != maps).any(axis=(1, 2)).sum() > 150


# --- the Canny kernel against the numpy reference ---------------------------------------------


def reference_edges(masks: np.ndarray) -> np.ndarray:
    return np.stack([paper_canny(mask) for mask in masks])


def test_canny_edges_equal_the_reference_on_awkward_masks():
    rng = np.random.default_rng(7)
    masks = np.stack([random_mask(rng, (64, 48)) for _ in range(150)])
    masks[0] = True  # whole window
    masks[1] = False
    # Salt and pepper of varied density: many close calls in the suppression.
    masks[2:42] = rng.random((40, 64, 48)) < rng.uniform(0.02, 0.6, (40, 1, 1))
    expected = reference_edges(masks)
    np.testing.assert_array_equal(canny_edges(masks), expected)
    has_edges = expected.any(axis=(1, 2))
    # Lone pixels and some thin lines among the random masks have none.
    assert not has_edges[:2].any() and has_edges[2:42].all() and has_edges[42:].mean() > 0.7
    # Edges next to the outermost ring, which is never an edge.
    ring = np.ones((64, 48), dtype=bool)
    ring[2:-2, 2:-2] = False
    assert (expected & ring).any() and not expected[:, [0, -1], :].any()


@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (3, 3), (9, 9), (13, 4)])
def test_canny_edges_on_tiny_images(shape):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    masks = rng.random((40, *shape)) < 0.5
    np.testing.assert_array_equal(canny_edges(masks), reference_edges(masks))


def test_single_pixels_blocks_lines_and_full_masks_at_every_position():
    shape = (11, 13)
    height, width = shape

    def mask_of(*index) -> np.ndarray:
        mask = np.zeros(shape, dtype=bool)
        mask[index] = True
        return mask

    cells = [(r, c) for r in range(height) for c in range(width)]
    pixels = np.stack([mask_of(r, c) for r, c in cells])
    blocks = np.stack([mask_of(slice(r, r + 2), slice(c, c + 2)) for r, c in cells])
    lines = np.stack([mask_of(r, slice(None)) for r in range(height)]
                     + [mask_of(slice(None), c) for c in range(width)])
    diagonals = np.stack([np.eye(height, width, offset, dtype=bool)[::flip]
                          for offset in range(-height + 1, width) for flip in (1, -1)])
    full = np.ones((1, *shape), dtype=bool)
    for masks in (pixels, blocks, lines, diagonals, full):
        np.testing.assert_array_equal(canny_edges(masks), reference_edges(masks))
    # A lone pixel's gradient peaks at 0.46/255, under the threshold (the default
    # thresholds give it 8 edge pixels); a 2×2 block's reaches 1.37/255.
    assert not reference_edges(pixels).any()
    assert reference_edges(blocks).any(axis=(1, 2)).mean() > 0.9
    assert reference_edges(lines).any(axis=(1, 2)).all()


def test_edge_counts_equal_the_number_of_reference_edge_pixels():
    rng = np.random.default_rng(11)
    masks = np.stack([random_mask(rng, (50, 70)) for _ in range(60)])
    masks[5] = False
    counts = canny_kernel.edge_counts(masks, bounding_boxes(masks))
    assert counts.tolist() == [paper_edge_count(mask) for mask in masks]
    assert counts[5] == 0 and counts.min() == 0 < counts.max()


FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mask_shapes(draw, shape: tuple[int, int]) -> np.ndarray:
    """One of: any pixels, a single pixel, a full mask, a 1-px line (straight or diagonal,
    through the border or not), or a rectangle; unions of them."""
    height, width = shape
    mask = np.zeros(shape, dtype=bool)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["pixels", "pixel", "full", "line", "rectangle"]))
        if kind == "pixels":
            mask |= draw(arrays(bool, shape))
        elif kind == "pixel":
            mask[draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))] = True
        elif kind == "full":
            mask[:] = True
        elif kind == "line":
            row, col = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
            step_r, step_c = draw(st.sampled_from([(0, 1), (1, 0), (1, 1), (1, -1)]))
            for k in range(draw(st.integers(1, max(height, width)))):
                if 0 <= row + k * step_r < height and 0 <= col + k * step_c < width:
                    mask[row + k * step_r, col + k * step_c] = True
        else:
            r0, r1 = sorted(draw(st.lists(st.integers(0, height - 1), min_size=2, max_size=2)))
            c0, c1 = sorted(draw(st.lists(st.integers(0, width - 1), min_size=2, max_size=2)))
            mask[r0 : r1 + 1, c0 : c1 + 1] = True
    return mask


@st.composite
def mask_stacks(draw) -> np.ndarray:
    shape = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    return np.stack([draw(mask_shapes(shape)) for _ in range(draw(st.integers(1, 4)))])


@FUZZ
@given(mask_stacks())
def test_canny_edges_equal_the_reference_on_generated_masks(masks):
    # Stacks: each mask is filtered in buffers that the one before it used.
    expected = reference_edges(masks)
    np.testing.assert_array_equal(canny_edges(masks), expected)
    counts = canny_kernel.edge_counts(masks, bounding_boxes(masks))
    np.testing.assert_array_equal(counts, expected.sum(axis=(1, 2)))


# --- inside the kernel: what no mask above happens to exercise ---------------------------------


def padded(image: np.ndarray) -> np.ndarray:
    """The kernel's smoothed-image buffer: one pixel of scipy's "reflect" border around."""
    return np.pad(image, 1, mode="edge")


def suppressed(smoothed: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """The kernel's non-maximum suppression and threshold over a whole image."""
    height, width = magnitude.shape
    edges = np.zeros((1, height, width), dtype=bool)
    count = canny_kernel._suppress(0, height - 1, 0, width - 1, smoothed, magnitude, edges, 0,
                                   True)
    assert count == edges.sum()
    return edges[0]


def estimated_magnitudes(smoothed: np.ndarray) -> np.ndarray:
    height, width = smoothed.shape[0] - 2, smoothed.shape[1] - 2
    magnitude = np.zeros((height, width))
    canny_kernel._magnitude(smoothed, 0, height - 1, 0, width - 1, magnitude)
    return magnitude


@pytest.mark.parametrize("gradient", [LOW_THRESHOLD, np.nextafter(LOW_THRESHOLD, 0)])
def test_a_gradient_of_1_over_255_is_an_edge_and_one_unit_in_the_last_place_less_is_not(
    gradient,
):
    # Smoothed values that step by gradient/4 from row 5 to row 6: Sobel gives exactly the
    # gradient on rows 5 and 6 (4 × the step, all in powers of two), which tie as maxima.
    # scikit-image >= 0.19 compares with float32(1/255), which is larger, and would drop both.
    assert float(np.float32(LOW_THRESHOLD)) > LOW_THRESHOLD
    image = np.zeros((12, 10))
    image[6:] = gradient / 4
    smoothed = padded(image)
    magnitude = estimated_magnitudes(smoothed)
    assert magnitude[5, 3] == magnitude[6, 3] == gradient
    expected = np.zeros(image.shape, dtype=bool)
    if gradient >= LOW_THRESHOLD:
        expected[5:7, 1:-1] = True
    np.testing.assert_array_equal(suppressed(smoothed, magnitude), expected)


def test_close_calls_are_decided_on_exact_magnitudes():
    # The kernel compares sqrt(i*i + j*j) estimates and redoes with hypot what they leave too
    # close to call. Estimates off by 1e-13 relative (a thousand times their real error, a
    # tenth of the room the kernel allows them) must change no edge, though they flip the
    # ties of a suppression run on them directly.
    rng = np.random.default_rng(23)
    shape = (40, 40)
    masks = [random_mask(rng, shape) for _ in range(40)]
    masks += list(rng.random((20, *shape)) < rng.uniform(0.05, 0.5, (20, 1, 1)))
    column_table, row_taps, bleed_over = canny_kernel._filters(shape)
    flipped_naively = 0
    for mask in masks:
        smoothed = np.zeros((shape[0] + 2, shape[1] + 2))
        canny_kernel._smooth(mask, 0, shape[0] - 1, 0, shape[1] - 1, column_table, row_taps,
                             bleed_over, smoothed)
        magnitude = estimated_magnitudes(smoothed)
        expected = paper_canny(mask)
        isobel, jsobel, _ = gradients(mask)
        for _ in range(3):
            noisy = magnitude * (1 + 1e-13 * rng.uniform(-1, 1, shape))
            np.testing.assert_array_equal(suppressed(smoothed, noisy), expected)
            flipped_naively += not np.array_equal(edges_from_gradients(isobel, jsobel, noisy),
                                                  expected)
    assert flipped_naively > 10


def test_exact_magnitudes_are_numpys_hypot_not_the_root_of_the_sum_of_squares():
    rng = np.random.default_rng(29)
    image = ndi.gaussian_filter((rng.random((30, 30)) < 0.3).astype(float), 1.0) / 255
    isobel, jsobel = ndi.sobel(image, axis=0), ndi.sobel(image, axis=1)
    smoothed = padded(image)
    exact = np.array([[canny_kernel._exact_magnitude(smoothed, r, c) for c in range(30)]
                      for r in range(30)])
    np.testing.assert_array_equal(exact, np.hypot(isobel, jsobel))
    assert (exact != np.sqrt(isobel * isobel + jsobel * jsobel)).any()


def test_hausdorff_equals_brute_force_on_small_masks():
    rng = np.random.default_rng(3)
    gt, pred = random_pairs(rng, 60, (20, 24))
    table = lesion_metrics(gt, pred)
    for k in np.flatnonzero(pred.any(axis=(1, 2))):
        assert table.loc[k, "hausdorff"] == brute_force_hausdorff(gt[k], pred[k])


# --- empty masks ------------------------------------------------------------------------------


def test_empty_prediction_takes_the_worst_value_of_the_set():
    shape = (60, 60)
    gt = np.stack([square(shape, 10, 10, 10), square(shape, 30, 30, 12), square(shape, 5, 5, 8)])
    pred = np.stack([square(shape, 12, 13, 10), square(shape, 30, 40, 12), np.zeros(shape)])
    table = lesion_metrics(gt, pred)
    first, second = reference_row(gt[0], pred[0]), reference_row(gt[1], pred[1])
    empty = table.iloc[2]
    assert bool(empty["pred_empty"]) and not bool(empty["gt_empty"])
    for column in ("center_error", "hausdorff", "hd95"):
        assert empty[column] == max(first[column], second[column])
    assert (empty["iou"], empty["dice"], empty["vs"]) == (0.0, 0.0, 0.0)
    assert empty["perimeter_error"] == paper_edge_count(gt[2]) / 2 > 0


def test_all_predictions_empty_fall_back_to_the_window_diagonal():
    gt = np.stack([square((40, 30), 5, 5, 10), square((40, 30), 20, 10, 5)])
    table = lesion_metrics(gt, np.zeros_like(gt))
    assert window_diagonal((40, 30)) == math.hypot(39, 29)
    for column in ("center_error", "hausdorff", "hd95"):
        assert (table[column] == math.hypot(39, 29)).all()
    assert table["pred_empty"].all()


def test_empty_gt_is_not_scored_and_does_not_set_the_worst_value():
    shape = (50, 50)
    gt = np.stack(
        [np.zeros(shape), np.zeros(shape), square(shape, 5, 5, 10), square(shape, 5, 5, 10)]
    )
    pred = np.stack(
        [square(shape, 30, 30, 10), np.zeros(shape), square(shape, 6, 6, 10), np.zeros(shape)]
    )
    table = lesion_metrics(gt.astype(np.uint8), pred.astype(np.uint8))
    assert table["gt_empty"].tolist() == [True, True, False, False]
    assert table.loc[:1, METRIC_COLUMNS].isna().all().all()
    # Lesion 0's far-away prediction has no GT to be wrong about: the empty prediction of
    # lesion 3 takes lesion 2's values.
    assert table.loc[3, "hausdorff"] == table.loc[2, "hausdorff"] == math.sqrt(2)
    assert table[METRIC_COLUMNS].mean().notna().all()


def test_filling_after_scoring_in_parts_equals_scoring_at_once():
    rng = np.random.default_rng(11)
    gt, pred = random_pairs(rng, 40, (48, 48))
    assert not pred.any(axis=(1, 2)).all()
    whole = lesion_metrics(gt, pred)
    parts = pd.concat(
        [
            lesion_metrics(gt[:20], pred[:20], fill_empty=False),
            lesion_metrics(gt[20:], pred[20:], fill_empty=False),
        ],
        ignore_index=True,
    )
    assert parts.loc[parts["pred_empty"], "hausdorff"].isna().all()
    pd.testing.assert_frame_equal(fill_empty_predictions(parts, window_diagonal((48, 48))), whole)


# --- the table and its input ------------------------------------------------------------------


def test_table_layout():
    assert METRIC_COLUMNS == [
        "iou",
        "dice",
        "vs",
        "center_error",
        "perimeter_error",
        "hausdorff",
        "hd95",
    ]
    assert {"center_error", "perimeter_error", "hausdorff", "hd95"} == LOWER_IS_BETTER
    table = lesion_metrics(np.zeros((0, 8, 8), bool), np.zeros((0, 8, 8), bool))
    assert list(table.columns) == [*METRIC_COLUMNS, "pred_empty", "gt_empty"]
    assert len(table) == 0


def test_zero_one_integers_score_like_booleans():
    rng = np.random.default_rng(5)
    gt, pred = random_pairs(rng, 10, (32, 32))
    pd.testing.assert_frame_equal(
        lesion_metrics(gt.astype(np.uint8), pred.astype(np.float32)), lesion_metrics(gt, pred)
    )


def test_a_single_mask_is_rejected_with_a_hint():
    with pytest.raises(WeaklesionError, match=r"gt: .*\(N, H, W\).*mask\[None\]"):
        lesion_metrics(np.zeros((8, 8)), np.zeros((8, 8)))


def test_non_binary_values_are_rejected_naming_the_mask():
    pred = np.zeros((3, 8, 8), np.uint8)
    pred[2, 1, 1] = 255
    with pytest.raises(WeaklesionError, match=r"pred: .*mask 2 holds \[0, 255\]"):
        lesion_metrics(np.zeros((3, 8, 8), np.uint8), pred)


def test_shape_mismatch_is_rejected_naming_both_shapes():
    with pytest.raises(WeaklesionError, match=r"\(2, 8, 8\).*\(2, 8, 9\)"):
        lesion_metrics(np.zeros((2, 8, 8), bool), np.zeros((2, 8, 9), bool))
