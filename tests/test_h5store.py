"""The patch store data.h5 and the mask stores: layout, round trips, chunking, compression."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import weaklesion.datasets.patch_store as h5store
from weaklesion import PATCH_SIZE, __version__
from weaklesion.datasets.base import Lesion, WeakLabel
from weaklesion.datasets.patch_store import (
    PatchWriter,
    as_levels,
    mask_store,
    read_arrays,
    read_cluster_table,
    read_table,
    store_attrs,
    write_attrs,
    write_masks,
)
from weaklesion.ellipses.fitting import ELLIPSE_COLUMNS
from weaklesion.errors import WeaklesionError

N = 7


def make_lesions(n=N, *, with_recist=False, seed=0):
    rng = np.random.default_rng(seed)
    lesions, ellipses, ious = [], [], []
    for i in range(n):
        meta = {"dx": ["nv", "mel", "bkl"][i % 3], "age": 30.0 + 5 * i, "count": i,
                "mixed": "12" if i % 2 else "n/a", "ünïcode": "Zürich ✓"}
        if i == 3:
            del meta["age"]  # a lesion without this column
            del meta["dx"]
        lesions.append(Lesion(
            lesion_id=f"L{i:03d}", group_id=f"G{i // 2}", source=f"/raw/img_{i}.jpg",
            image=rng.integers(0, 256, (PATCH_SIZE, PATCH_SIZE, 3), dtype=np.uint8),
            mask=None if with_recist else rng.random((PATCH_SIZE, PATCH_SIZE)) < 0.3,
            recist=rng.normal(60, 10, (4, 2)).astype(np.float32) if with_recist else None,
            meta=meta,
        ))
        ellipses.append(rng.uniform(1, 100, 5).astype(np.float32))
        ious.append(np.nan if with_recist else float(rng.uniform(0.4, 1)))
    return lesions, np.array(ellipses), ious


def target_ellipse(ellipse):
    """A target ellipse other than the cluster features, on a frame of its own (as the
    released HAM10000 procedure fits it on the full-size image)."""
    return ellipse * 5, (450 + int(ellipse[0]), 600)


def write_store(path, lesions, ellipses, ious, *, has_masks=True, target_recipe="exact",
                cluster_rows=()):
    with h5py.File(path, "w") as h5:
        write_attrs(h5, fmt="ham10000", dataset="ham", settings={"protocol": "paper",
                                                                   "window": [0, 255]},
                    target_recipe=target_recipe)
        writer = PatchWriter(h5, has_masks=has_masks, has_recist=not has_masks)
        for lesion, ellipse, iou in zip(lesions, ellipses, ious, strict=True):
            writer.append(lesion, WeakLabel(ellipse, *target_ellipse(ellipse), iou))
        writer.append_cluster_rows(cluster_rows)
        writer.close()
        return writer.count


@pytest.fixture(params=[h5store.BLOCK, 3], ids=["one-block", "blocks-of-3"])
def block(request, monkeypatch):
    monkeypatch.setattr(h5store, "BLOCK", request.param)
    return request.param


def test_arrays_round_trip(tmp_path, block):
    lesions, ellipses, ious = make_lesions()
    path = tmp_path / "data.h5"
    assert write_store(path, lesions, ellipses, ious) == N
    arrays = read_arrays(path, ["image", "mask", "ellipse", "ellipse_iou", "recist"])
    assert "recist" not in arrays  # absent names are left out, not errors
    assert np.array_equal(arrays["image"], np.stack([lesion.image for lesion in lesions]))
    assert arrays["mask"].dtype == bool
    assert np.array_equal(arrays["mask"], np.stack([lesion.mask for lesion in lesions]))
    assert np.array_equal(arrays["ellipse"], ellipses)
    assert np.allclose(arrays["ellipse_iou"], ious)
    with h5py.File(path, "r") as h5:
        assert "mask" in h5 and "recist" not in h5 and "cluster_table" not in h5
    targets = read_arrays(path, ["target_ellipse", "target_frame"])
    expected = [target_ellipse(e) for e in ellipses]
    np.testing.assert_allclose(targets["target_ellipse"], [e for e, _ in expected], rtol=1e-6)
    np.testing.assert_array_equal(targets["target_frame"], [f for _, f in expected])


def test_cluster_table_round_trip(tmp_path):
    lesions, ellipses, ious = make_lesions(3)
    path = tmp_path / "data.h5"
    rows = [("L000", np.arange(5.0)), ("gone", np.arange(5.0) + 10), ("L002", np.ones(5))]
    write_store(path, lesions, ellipses, ious, cluster_rows=rows)
    table = read_cluster_table(path)
    assert list(table.columns) == ["lesion_id", *ELLIPSE_COLUMNS]
    assert list(table["lesion_id"]) == ["L000", "gone", "L002"]
    np.testing.assert_array_equal(table[ELLIPSE_COLUMNS], np.stack([r[1] for r in rows]))
    write_store(path, lesions, ellipses, ious)
    assert read_cluster_table(path) is None


def test_mask_stores_hold_bool_masks_or_soft_levels(tmp_path):
    levels = np.array([[[0, 128], [255, 7]]], dtype=np.uint8)
    with mask_store(tmp_path / "soft.h5", "ellipse", ["a"], (2, 2), dtype=np.uint8) as stored:
        stored[:] = levels
    stored = read_arrays(tmp_path / "soft.h5", ["ellipse"])["ellipse"]
    np.testing.assert_array_equal(as_levels(stored), levels)
    write_masks(tmp_path / "binary.h5", "ellipse", levels > 100, ["a"])
    binary = read_arrays(tmp_path / "binary.h5", ["ellipse"])["ellipse"]
    assert binary.dtype == bool
    np.testing.assert_array_equal(as_levels(binary), [[[0, 255], [255, 0]]])
    with pytest.raises(WeaklesionError, match="float32"):
        as_levels(levels.astype(np.float32))


def test_datasets_are_chunked_and_compressed(tmp_path, block):
    lesions, ellipses, ious = make_lesions()
    path = tmp_path / "data.h5"
    write_store(path, lesions, ellipses, ious)
    with h5py.File(path, "r") as h5:
        for name, shape in [("image", (PATCH_SIZE, PATCH_SIZE, 3)),
                            ("mask", (PATCH_SIZE, PATCH_SIZE)),
                            ("ellipse", (5,)), ("ellipse_iou", ())]:
            dataset = h5[name]
            assert dataset.shape == (N, *shape)
            assert dataset.chunks == (block, *shape)
            assert dataset.compression == "gzip"
            assert dataset.shuffle
            assert dataset.maxshape[0] is None


def test_table_round_trip_with_string_and_numeric_meta(tmp_path, block):
    lesions, ellipses, ious = make_lesions()
    path = tmp_path / "data.h5"
    write_store(path, lesions, ellipses, ious)
    table = read_table(path)
    assert list(table["lesion_id"]) == [lesion.lesion_id for lesion in lesions]
    assert list(table["group_id"]) == [lesion.group_id for lesion in lesions]
    assert list(table["source"]) == [lesion.source for lesion in lesions]
    assert np.array_equal(table[ELLIPSE_COLUMNS].to_numpy(np.float32), ellipses)
    assert ELLIPSE_COLUMNS == ["cx", "cy", "width", "height", "angle"]
    assert np.allclose(table["ellipse_iou"], ious)
    # Numbers come back as float64, a missing value as NaN.
    assert table["meta_count"].dtype == np.float64
    assert list(table["meta_count"]) == list(range(N))
    ages = table["meta_age"].to_numpy()
    assert np.isnan(ages[3])
    assert np.array_equal(np.delete(ages, 3), [30.0 + 5 * i for i in range(N) if i != 3])
    # Text stays text; a missing text value comes back empty.
    assert list(table["meta_dx"]) == ["nv", "mel", "bkl", "", "mel", "bkl", "nv"]
    assert list(table["meta_ünïcode"]) == ["Zürich ✓"] * N
    # A column that is only partly numeric is kept as text, not half-NaN numbers.
    assert list(table["meta_mixed"]) == ["n/a" if i % 2 == 0 else "12" for i in range(N)]
    with h5py.File(path, "r") as h5:
        assert h5["meta/dx"].dtype.kind == "O"
        assert h5["meta/count"].dtype == np.float64


def test_attributes(tmp_path):
    lesions, ellipses, ious = make_lesions(2)
    path = tmp_path / "data.h5"
    write_store(path, lesions, ellipses, ious)
    with h5py.File(path, "r") as h5:
        assert h5.attrs["format"] == "ham10000"
        assert h5.attrs["dataset"] == "ham"
        assert h5.attrs["weaklesion_version"] == __version__
        assert json.loads(h5.attrs["settings"]) == {"protocol": "paper", "window": [0, 255]}
    assert store_attrs(path)["protocol"] == "paper"
    assert store_attrs(path)["target_recipe"] == "exact"
    write_store(path, lesions, ellipses, ious, target_recipe="ham10000")
    assert store_attrs(path)["target_recipe"] == "ham10000"


def test_recist_store_without_masks(tmp_path, block):
    lesions, ellipses, ious = make_lesions(with_recist=True)
    path = tmp_path / "data.h5"
    write_store(path, lesions, ellipses, ious, has_masks=False)
    arrays = read_arrays(path, ["recist", "mask", "ellipse_iou"])
    assert "mask" not in arrays
    assert arrays["recist"].dtype == np.float32
    assert np.array_equal(arrays["recist"], np.stack([lesion.recist for lesion in lesions]))
    assert np.isnan(arrays["ellipse_iou"]).all()
    with h5py.File(path, "r") as h5:
        assert h5["recist"].chunks == (block, 4, 2)
        assert h5["recist"].compression == "gzip"


def test_empty_store_has_empty_datasets(tmp_path):
    path = tmp_path / "data.h5"
    assert write_store(path, [], np.zeros((0, 5), np.float32), []) == 0
    assert read_arrays(path, ["image"])["image"].shape == (0, PATCH_SIZE, PATCH_SIZE, 3)
    assert len(read_table(path)) == 0


def test_mask_store_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    masks = rng.random((5, PATCH_SIZE, PATCH_SIZE)) < 0.5
    path = tmp_path / "targets.h5"
    write_masks(path, "ellipse", masks.astype(np.uint8), ["a", "b", "c", "d", "é"])
    with h5py.File(path, "r") as h5:
        assert h5["ellipse"].dtype == bool
        assert h5["ellipse"].compression == "gzip"
        assert h5["ellipse"].chunks == (5, PATCH_SIZE, PATCH_SIZE)
    arrays = read_arrays(path, ["ellipse", "lesion_id"])
    assert np.array_equal(arrays["ellipse"], masks)
    assert [v.decode() for v in arrays["lesion_id"]] == ["a", "b", "c", "d", "é"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["targets.h5"]


def test_mask_store_failure_leaves_nothing(tmp_path):
    path = tmp_path / "targets.h5"
    # An id that cannot be encoded as UTF-8 fails after the masks were written.
    with pytest.raises(UnicodeEncodeError):
        write_masks(path, "ellipse", np.zeros((2, 4, 4), bool), ["a", "\ud800"])
    assert list(tmp_path.iterdir()) == []
