"""Stage 3: filled-ellipse targets, their agreement with the masks, and the files written."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from reference_vectors import load as load_vectors

from weaklesion import PATCH_SIZE
from weaklesion.datasets.base import Lesion, WeakLabel
from weaklesion.datasets.patch_store import PatchWriter, read_arrays, write_attrs
from weaklesion.ellipses.drawing import draw_released_target
from weaklesion.ellipses.fitting import (
    ELLIPSE_COLUMNS,
    Ellipse,
    rasterise_ellipse,
    released_recist_features,
)
from weaklesion.weak_labels.grabcut import grabcut_target, released_grabcut
from weaklesion.weak_labels.targets import (
    ellipse_masks,
    ellipse_table,
    grabcut_masks,
    target_recipe,
    write_ellipse_targets,
    write_grabcut_targets,
)

ELLIPSES = np.array([
    [60.0, 60.0, 50.0, 30.0, 0.0],
    [40.5, 70.25, 20.0, 44.0, 33.0],
    [90.0, 30.0, 35.0, 35.0, 120.0],
], dtype=np.float32)  # fmt: skip


def test_ellipse_masks_are_the_rasterised_ellipses():
    masks = ellipse_masks(ELLIPSES)
    assert masks.shape == (3, PATCH_SIZE, PATCH_SIZE) and masks.dtype == bool
    for mask, params in zip(masks, ELLIPSES, strict=True):
        assert mask.any()
        assert np.array_equal(mask, rasterise_ellipse(Ellipse(*map(float, params)),
                                                      (PATCH_SIZE, PATCH_SIZE)))
    assert ellipse_masks(np.zeros((0, 5), np.float32)).shape == (0, PATCH_SIZE, PATCH_SIZE)


def test_ellipse_table_dice_and_iou_by_hand():
    ellipse = np.zeros((2, 3, 4), bool)
    mask = np.zeros((2, 3, 4), bool)
    ellipse[0, 0, :3] = True  # 3 px
    mask[0, 0, 1:] = True  # 3 px; 2 shared, union 4
    ellipse[1, :2, :2] = True  # 4 px
    mask[1, 2, 3] = True  # 1 px; nothing shared, union 5
    table = pd.DataFrame({"lesion_id": ["a", "b"], "extra": [1, 2],
                          **{c: [1.0, 2.0] for c in ELLIPSE_COLUMNS}})
    out = ellipse_table(table, ellipse, mask)
    assert list(out.columns) == ["lesion_id", *ELLIPSE_COLUMNS, "target_iou", "target_dice"]
    assert out["target_iou"].tolist() == pytest.approx([100 * 2 / 4, 0.0])
    assert out["target_dice"].tolist() == pytest.approx([100 * 2 * 2 / 6, 0.0])


def test_ellipse_table_without_masks_has_no_scores():
    table = pd.DataFrame({"lesion_id": ["a"], **{c: [1.0] for c in ELLIPSE_COLUMNS}})
    out = ellipse_table(table, np.ones((1, 2, 2), bool), None)
    assert list(out.columns) == ["lesion_id", *ELLIPSE_COLUMNS]


def write_data_h5(path, masks, *, ellipses=ELLIPSES, recipe="exact", frames=None,
                  images=None):
    """A data.h5 of len(ellipses) lesions with the given GT masks (None: a RECIST store),
    whose targets are made by ``recipe`` from ``ellipses`` on ``frames`` (default 120×120)."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        write_attrs(h5, fmt="test", dataset="t", settings={"protocol": "corrected"},
                    target_recipe=recipe)
        writer = PatchWriter(h5, has_masks=masks is not None, has_recist=masks is None)
        for i, params in enumerate(ellipses):
            frame = (PATCH_SIZE, PATCH_SIZE) if frames is None else tuple(frames[i])
            lesion = Lesion(
                f"les-{i}", f"grp-{i}", f"src-{i}",
                rng.integers(0, 256, (PATCH_SIZE, PATCH_SIZE, 3), dtype=np.uint8)
                if images is None else images[i],
                mask=None if masks is None else masks[i],
                recist=np.zeros((4, 2), np.float32) if masks is None else None,
                meta={"n": i},
            )
            writer.append(lesion, WeakLabel(params, params, frame, 0.5))
        writer.close()


def test_write_ellipse_targets_writes_masks_and_table(tmp_path):
    ys, xs = np.indices((PATCH_SIZE, PATCH_SIZE))
    truth = np.stack([(xs - 60) ** 2 + (ys - 60) ** 2 <= r**2 for r in (15, 20, 25)])
    data_h5 = tmp_path / "data.h5"
    write_data_h5(data_h5, truth)
    parquet, targets = tmp_path / "out" / "ellipses.parquet", tmp_path / "out" / "targets.h5"
    summary = write_ellipse_targets(data_h5, parquet, targets)

    stored = read_arrays(targets, ["ellipse", "lesion_id"])
    expected = ellipse_masks(ELLIPSES)
    assert np.array_equal(stored["ellipse"], expected)
    assert [v.decode() for v in stored["lesion_id"]] == ["les-0", "les-1", "les-2"]

    on_disk = pd.read_parquet(parquet)
    pd.testing.assert_frame_equal(on_disk, summary)
    assert list(on_disk["lesion_id"]) == ["les-0", "les-1", "les-2"]
    assert np.allclose(on_disk[ELLIPSE_COLUMNS].to_numpy(), ELLIPSES)
    inter = (expected & truth).sum(axis=(1, 2))
    union = (expected | truth).sum(axis=(1, 2))
    assert np.allclose(on_disk["target_iou"], 100 * inter / union)
    assert np.allclose(on_disk["target_dice"],
                       100 * 2 * inter / (expected.sum(axis=(1, 2)) + truth.sum(axis=(1, 2))))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ellipses.parquet",
                                                                   "targets.h5"]


def test_write_ellipse_targets_without_ground_truth(tmp_path):
    data_h5 = tmp_path / "data.h5"
    write_data_h5(data_h5, None)
    summary = write_ellipse_targets(data_h5, tmp_path / "e.parquet", tmp_path / "t.h5")
    assert "target_iou" not in summary.columns
    assert np.array_equal(read_arrays(tmp_path / "t.h5", ["ellipse"])["ellipse"],
                          ellipse_masks(ELLIPSES))


def test_grabcut_targets_match_per_lesion_grabcut_with_any_worker_count(tmp_path):
    data_h5, targets = tmp_path / "data.h5", tmp_path / "targets.h5"
    write_data_h5(data_h5, None)
    write_ellipse_targets(data_h5, tmp_path / "e.parquet", targets)
    images = read_arrays(data_h5, ["image"])["image"]
    ellipses = ellipse_masks(ELLIPSES)
    expected = np.stack([grabcut_target(i, e) for i, e in zip(images, ellipses, strict=True)])
    assert np.array_equal(grabcut_masks(images, ellipses, workers=1), expected)
    assert np.array_equal(grabcut_masks(images, ellipses, workers=2), expected)
    write_grabcut_targets(data_h5, targets, tmp_path / "grabcut.h5", workers=2)
    stored = read_arrays(tmp_path / "grabcut.h5", ["grabcut", "lesion_id"])
    assert np.array_equal(stored["grabcut"], expected)
    assert [v.decode() for v in stored["lesion_id"]] == ["les-0", "les-1", "les-2"]


# --- released recipes (protocol paper) ----------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_released_deeplesion_targets_follow_data_h5s_recipe(tmp_path, workers):
    vectors = load_vectors("deeplesion")
    features = vectors["features"][:12].astype(np.float32)
    data_h5 = tmp_path / "data.h5"
    write_data_h5(data_h5, None, ellipses=features, recipe="deeplesion")
    write_ellipse_targets(data_h5, tmp_path / "e.parquet", tmp_path / "t.h5", workers=workers)
    with h5py.File(tmp_path / "t.h5", "r") as h5:
        assert h5["ellipse"].dtype == bool and h5["ellipse"].attrs["recipe"] == "deeplesion"
        stored = h5["ellipse"][:]
    assert target_recipe(data_h5) == "deeplesion"
    ious = [(a & b).sum() / (a | b).sum() for a, b in
            zip(stored, vectors["target"][:12].astype(bool), strict=True)]
    assert np.mean(ious) >= 0.95
    # The outline grows every target beyond the exact ellipse (PROTOCOL item 1).
    exact = ellipse_masks(features)
    assert (stored.sum(axis=(1, 2)) > exact.sum(axis=(1, 2))).all()


def test_released_lits_targets_are_stored_soft_on_their_crop_frames(tmp_path):
    ellipses = np.array([[20.0, 15.0, 18.0, 10.0, 30.0], [30.0, 30.0, 40.0, 22.0, 100.0]],
                        np.float32)
    frames = [(31, 46), (64, 64)]
    truth = np.zeros((2, PATCH_SIZE, PATCH_SIZE), bool)
    truth[:, 40:80, 40:80] = True
    data_h5 = tmp_path / "data.h5"
    write_data_h5(data_h5, truth, ellipses=ellipses, recipe="lits", frames=frames)
    summary = write_ellipse_targets(data_h5, tmp_path / "e.parquet", tmp_path / "t.h5")
    stored = read_arrays(tmp_path / "t.h5", ["ellipse"])["ellipse"]
    assert stored.dtype == np.uint8
    for levels, ellipse, frame in zip(stored, ellipses, frames, strict=True):
        np.testing.assert_array_equal(levels, draw_released_target("lits", ellipse, frame))
        assert ((levels > 0) & (levels < 255)).any()  # antialiased edge, never thresholded
    # Scored against the GT binarised at one half.
    binary = stored >= 128
    inter = (binary & truth).sum(axis=(1, 2))
    assert np.allclose(summary["target_iou"], 100 * inter / (binary | truth).sum(axis=(1, 2)))


def test_unknown_recipe_is_an_error(tmp_path):
    write_data_h5(tmp_path / "data.h5", None, recipe="watercolour")
    with pytest.raises(ValueError, match="unknown target recipe 'watercolour'"):
        write_ellipse_targets(tmp_path / "data.h5", tmp_path / "e.parquet", tmp_path / "t.h5")
    assert not (tmp_path / "t.h5").exists()


def test_released_grabcut_where_the_targets_were_drawn_as_released(tmp_path):
    vectors = load_vectors("deeplesion")
    count = 6
    data_h5, targets = tmp_path / "data.h5", tmp_path / "targets.h5"
    features = np.array([released_recist_features(r) for r in vectors["gc_recist"][:count]],
                        np.float32)
    write_data_h5(data_h5, None, ellipses=features, recipe="deeplesion",
                  images=vectors["gc_image"][:count])
    write_ellipse_targets(data_h5, tmp_path / "e.parquet", targets)
    write_grabcut_targets(data_h5, targets, tmp_path / "grabcut.h5", workers=2)
    refined = read_arrays(tmp_path / "grabcut.h5", ["grabcut"])["grabcut"]
    ellipses = read_arrays(targets, ["ellipse"])["ellipse"]
    expected = [released_grabcut(image, ellipse)
                for image, ellipse in zip(vectors["gc_image"][:count], ellipses, strict=True)]
    np.testing.assert_array_equal(refined, expected)
    ious = [(a & b).sum() / (a | b).sum() for a, b in
            zip(refined, vectors["gc_target"][:count].astype(bool), strict=True)]
    assert np.mean(ious) >= 0.90
