"""``protocol: paper`` against the released code's own outputs (tests/reference_vectors.py),
step by step: DeepLesion targets, features and GrabCut, HAM10000 targets, GT, images and
cluster features, LiTS crops, kept components and soft targets. The thresholds are the ones
the project set for parity; the measured figures are printed with ``pytest -s``.

tests/test_protocol_workflow.py checks the same figures on files in the datasets' on-disk
formats, run through the workflow.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from reference_vectors import load

from weaklesion.datasets.deeplesion import released_weak_label as deeplesion_weak_label
from weaklesion.datasets.ham10000 import released_weak_label as ham_weak_label
from weaklesion.datasets.imaging import released_resize_image, released_resize_mask
from weaklesion.datasets.lits import (
    released_area_rule,
    released_ellipse_iou,
    released_weak_label,
    square_crop_box,
    tumour_components,
)
from weaklesion.ellipses.drawing import draw_released_target
from weaklesion.ellipses.fitting import FitError, released_recist_features
from weaklesion.weak_labels.grabcut import released_grabcut


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def mean_iou(stack_a, stack_b) -> float:
    return float(np.mean([iou(a, b) for a, b in zip(stack_a, stack_b, strict=True)]))


def angle_difference(a, b) -> np.ndarray:
    """|a − b| in degrees, modulo 180 (an ellipse turned by 180° is itself)."""
    return np.abs((np.asarray(a) - np.asarray(b) + 90) % 180 - 90)


@pytest.fixture(scope="module")
def deeplesion():
    return load("deeplesion")


@pytest.fixture(scope="module")
def ham():
    return load("ham10000")


@pytest.fixture(scope="module")
def lits():
    return load("lits")


# --- DeepLesion (items 1-3) --------------------------------------------------------------------


def test_deeplesion_features_equal_the_released_ones_angle_unfolded(deeplesion):
    features = np.array([released_recist_features(r.reshape(4, 2)) for r in deeplesion["recist"]])
    np.testing.assert_allclose(features, deeplesion["features"], rtol=0, atol=1e-3)
    # The released angles range over (-90, 270]: folding them would not match.
    assert (deeplesion["features"][:, 4] > 180).any() or (deeplesion["features"][:, 4] < 0).any()


def test_deeplesion_targets_match_the_released_renderings(deeplesion):
    targets = np.stack([draw_released_target("deeplesion", f, (120, 120)) >= 128
                        for f in deeplesion["features"]])
    measured = mean_iou(targets, deeplesion["target"])
    print(f"DeepLesion targets: mean IoU {measured:.4f} over {len(targets)}")
    assert measured >= 0.95


def test_deeplesion_weak_label_draws_from_the_stored_float32_features(deeplesion):
    """What the workflow keeps in data.h5 (float32 RECIST, then features) gives the same."""
    targets = []
    for recist in deeplesion["recist"]:
        label = deeplesion_weak_label(recist.reshape(4, 2).astype(np.float32))
        assert label.target_frame == (120, 120)
        np.testing.assert_array_equal(label.ellipse, label.target_ellipse)
        targets.append(draw_released_target("deeplesion", label.target_ellipse, (120, 120)))
    measured = mean_iou(np.stack(targets) >= 128, deeplesion["target"])
    assert measured >= 0.95


def test_deeplesion_grabcut_matches_the_released_evaluation_targets(deeplesion):
    refined = np.stack([released_grabcut(image, ellipse) for image, ellipse
                        in zip(deeplesion["gc_image"], deeplesion["gc_ellipse"], strict=True)])
    measured = mean_iou(refined, deeplesion["gc_target"])
    unchanged = np.array([(r == e.astype(bool)).all() for r, e
                          in zip(refined, deeplesion["gc_ellipse"], strict=True)])
    print(f"DeepLesion GrabCut: mean IoU {measured:.4f} over {len(refined)}")
    assert measured >= 0.90
    # Where the released GrabCut gave up, so does this one (it returns the ellipse).
    assert (unchanged | ~deeplesion["gc_unchanged"]).all()


def test_deeplesion_grabcut_from_our_own_ellipse_targets(deeplesion):
    """The whole DeepLesion test-target path: RECIST → drawn ellipse → released GrabCut."""
    refined = []
    for recist, image in zip(deeplesion["gc_recist"], deeplesion["gc_image"], strict=True):
        ellipse = draw_released_target("deeplesion", released_recist_features(recist), (120, 120))
        refined.append(released_grabcut(image, ellipse >= 128))
    assert mean_iou(refined, deeplesion["gc_target"]) >= 0.90


def test_released_grabcut_sees_only_saturated_pixels(deeplesion):
    """The released input is np.uint8(patch / 255): any pixel below 255 is 0 to GrabCut."""
    image, ellipse = deeplesion["gc_image"][0], deeplesion["gc_ellipse"][0]
    dimmed = np.where(image == 255, 255, image // 2).astype(np.uint8)
    np.testing.assert_array_equal(released_grabcut(image, ellipse),
                                  released_grabcut(dimmed, ellipse))
    no_saturation = np.minimum(image, 254)
    np.testing.assert_array_equal(released_grabcut(no_saturation, ellipse), ellipse.astype(bool))


def test_released_recist_features_refuse_only_measurements_without_an_ellipse():
    with pytest.raises(FitError, match="parallel"):
        released_recist_features(np.array([[0, 0], [10, 0], [0, 5], [10, 5]]))
    with pytest.raises(FitError, match="zero length"):
        released_recist_features(np.array([[3, 3], [3, 3], [0, 5], [10, 5]]))
    # Diameters that cross far outside the segments still give the released ellipse.
    far = released_recist_features(np.array([[0, 0], [10, 0], [30, 5], [31, 20]]))
    assert far.cx > 10


# --- HAM10000 (items 7, 8) ---------------------------------------------------------------------


def test_ham_targets_match_the_released_renderings(ham):
    targets = []
    for mask in ham["mask"]:
        full = mask > 0
        label = ham_weak_label(full, released_resize_mask(full))
        assert label.target_frame == mask.shape
        targets.append(draw_released_target("ham10000", label.target_ellipse, label.target_frame))
    measured = mean_iou(np.stack(targets) >= 128, ham["target120"])
    print(f"HAM10000 targets: mean IoU {measured:.4f} over {len(targets)}")
    assert measured >= 0.97


def test_ham_fits_and_cluster_features_match_the_released_ones(ham):
    features, fits = [], []
    for mask in ham["mask"]:
        label = ham_weak_label(mask > 0, released_resize_mask(mask > 0))
        features.append(label.ellipse)
        fits.append(label.target_ellipse)
    features, fits = np.array(features, np.float64), np.array(fits, np.float64)
    for found, expected in ((features, ham["kmeans_features"]), (fits, ham["fit_full"])):
        centre_and_axes = np.abs(found[:, :4] - expected[:, :4]).max()
        angle = angle_difference(found[:, 4], expected[:, 4]).max()
        print(f"HAM10000 ellipses: max {centre_and_axes:.5f} px, {angle:.5f} deg")
        assert centre_and_axes <= 0.1
        assert angle <= 0.5


def test_ham_ground_truth_and_images_are_resized_as_released(ham):
    gt = np.stack([released_resize_mask(mask > 0) for mask in ham["mask"]])
    np.testing.assert_array_equal(gt, ham["gt120"].astype(bool))
    for jpeg, expected_bgr in zip(ham["image_jpeg"], ham["image120_bgr"], strict=False):
        rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR),
                           cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(released_resize_image(rgb)[:, :, ::-1], expected_bgr)


# --- LiTS (items 4, 5) -------------------------------------------------------------------------


def released_lits_steps(lits):
    """Per reference component: crop, area rule, weak label or exclusion, soft target."""
    results = []
    for slice_index, label in zip(lits["comp_slice"], lits["comp_label"], strict=True):
        components, labels = tumour_components(lits["labels"][slice_index] == 2)
        _, box, area = components[label - 1]
        row0, row1, col0, col1 = square_crop_box(box, labels.shape)
        crop_mask = (labels == label)[row0:row1 + 1, col0:col1 + 1]
        try:
            weak = released_weak_label(crop_mask)
        except FitError:
            weak = None
        target = None if weak is None else draw_released_target(
            "lits", weak.target_ellipse, weak.target_frame) / 255
        results.append(dict(crop=(col0, row0, col1, row1), area=area, crop_mask=crop_mask,
                            dropped_by_area=released_area_rule(crop_mask), weak=weak,
                            target=target))
    return results


def test_lits_crops_and_kept_components_are_the_released_ones(lits):
    steps = released_lits_steps(lits)
    np.testing.assert_array_equal([s["crop"] for s in steps], lits["crop_xyxy"])
    np.testing.assert_array_equal([s["area"] for s in steps], lits["comp_npx"])
    np.testing.assert_array_equal([s["dropped_by_area"] for s in steps], lits["area_rule_drop"])
    kept = np.array([s["weak"] is not None for s in steps])
    np.testing.assert_array_equal(kept, lits["kept"])
    # Components under 50 px are among the kept ones, as in the released code.
    assert (lits["comp_npx"][kept] < 50).any()
    for step, expected in zip(steps, lits["iou_120"], strict=True):
        if step["weak"] is not None:
            assert step["weak"].iou == pytest.approx(expected, abs=1e-9)


def test_lits_released_iou_counts_only_pixels_at_full_scale(lits):
    steps = [s for s in released_lits_steps(lits) if s["weak"] is not None]
    for step in steps:
        drawn = draw_released_target("lits", step["weak"].target_ellipse, step["weak"].target_frame,
                                     resize=False)
        assert released_ellipse_iou(drawn, step["crop_mask"]) == pytest.approx(step["weak"].iou)
        # A drawing one level short of full scale everywhere counts as empty.
        assert np.isnan(released_ellipse_iou(np.minimum(drawn, 254), step["crop_mask"] & False))


def test_lits_soft_targets_match_the_released_ones(lits):
    steps = released_lits_steps(lits)
    differences = [np.abs(s["target"] - expected).mean()
                   for s, expected in zip(steps, lits["target120"], strict=True)
                   if s["target"] is not None]
    print(f"LiTS soft targets: mean |difference| {np.mean(differences):.5f}, "
          f"worst lesion {np.max(differences):.5f} over {len(differences)}")
    assert np.mean(differences) <= 0.02
    soft = [s["target"] for s in steps if s["target"] is not None]
    assert any(((t > 0) & (t < 1)).any() for t in soft), "released LiTS targets are soft"
