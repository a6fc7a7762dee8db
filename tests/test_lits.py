"""LiTS adapter on tiny real NIfTI files: finding, ordering, cropping, windowing, errors."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from fixtures_lits import (
    LIVER_HU,
    SHAPE,
    TUMOUR_HU,
    TUMOURS,
    VOLUME_AFFINE,
    volume_arrays,
    write_lits_fixture,
    write_nifti,
)

from weaklesion import PATCH_SIZE
from weaklesion.datasets.lits import LitsAdapter, paper_order_key, square_crop_box
from weaklesion.datasets.windowing import window_to_uint8
from weaklesion.errors import BadImageError, ConfigError, MissingFilesError, WeaklesionError

ADAPTER = LitsAdapter()
PAPER = {"protocol": "paper", "on_bad_image": "fail"}
CORRECTED = {"protocol": "corrected", "on_bad_image": "fail"}


def load_volume(root, number, settings=CORRECTED):
    (item,) = [item for item in ADAPTER.list_items(root, settings) if item.number == number]
    return ADAPTER.load(item, settings)


def by_slice(result):
    return {lesion.meta["slice"]: lesion for lesion in result.lesions}


def test_adapter_contract():
    assert ADAPTER.has_masks is True
    assert ADAPTER.min_ellipse_iou == 0.4


def test_finds_pairs_recursively_in_any_mix_of_nii_and_nii_gz(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0, 1, 2])
    write_lits_fixture(tmp_path, numbers=[10, 11], compressed=True)
    items = ADAPTER.list_items(tmp_path, PAPER)
    # The released code sorted "volume-N_slice_comp.png" names as strings.
    assert [item.number for item in items] == [0, 10, 11, 1, 2]
    assert items[1].volume == "volume_pt2/volume-10.nii.gz"
    assert items[1].segmentation == "segmentations/segmentation-10.nii.gz"
    assert items[0].volume == "volume_pt1/volume-0.nii"


def test_patch_order_is_the_released_code_string_order():
    names = [(1, 2, 1), (1, 11, 1), (1, 100, 1), (10, 0, 1), (1, 11, 10), (1, 11, 2), (0, 5, 1)]
    ordered = sorted(names, key=lambda n: paper_order_key(*n))
    assert ordered == [
        (0, 5, 1),
        (10, 0, 1),
        (1, 100, 1),
        (1, 11, 1),
        (1, 11, 10),
        (1, 11, 2),
        (1, 2, 1),
    ]


def test_lesions_ids_groups_and_scalar_meta(tmp_path):
    write_lits_fixture(tmp_path, numbers=[3])
    result = load_volume(tmp_path, 3)
    ids = [lesion.lesion_id for lesion in result.lesions]
    assert ids == [
        "volume-3_slice-0001_comp-1",
        "volume-3_slice-0003_comp-1",
        "volume-3_slice-0004_comp-1",
        "volume-3_slice-0005_comp-1",
    ]
    for lesion in result.lesions:
        assert lesion.group_id == "volume-3"
        assert lesion.source == "volume_pt1/volume-3.nii"
        assert lesion.image.shape == (PATCH_SIZE, PATCH_SIZE, 3)
        assert lesion.image.dtype == np.uint8
        assert lesion.mask.shape == (PATCH_SIZE, PATCH_SIZE)
        assert lesion.mask.dtype == bool
        assert lesion.recist is None
        assert all(isinstance(value, str | int | float) for value in lesion.meta.values())


def test_square_crop_box_follows_the_released_rule():
    # rows 25..35 → centre 30, grown box 7..53 (47 px); cols 33..47 → centre 40, 15..65 (51 px)
    # → half = 25 either side of the centre.
    assert square_crop_box((25, 35, 33, 47), (96, 96)) == (5, 54, 15, 64)
    # Centres 27.5 round half to even (28); grown extents 52 → half 26.
    assert square_crop_box((20, 35, 20, 35), (96, 96)) == (2, 53, 2, 53)
    # At the top/right edge: grown box clipped to rows 0..27 (28), cols 63..96 (34) → half 17;
    # centres round(5.5) = 6 and 86; the crop is clipped, not padded.
    assert square_crop_box((2, 9, 81, 91), (96, 96)) == (0, 22, 69, 95)


def test_component_lands_where_the_crop_puts_it(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0])
    lesion = by_slice(load_volume(tmp_path, 0))[4]  # the two corner-touching squares
    assert (lesion.meta["bbox_row_min"], lesion.meta["bbox_row_max"]) == (20, 35)
    assert (lesion.meta["bbox_col_min"], lesion.meta["bbox_col_max"]) == (20, 35)
    crop = (
        lesion.meta["crop_row_min"],
        lesion.meta["crop_row_max"],
        lesion.meta["crop_col_min"],
        lesion.meta["crop_col_max"],
    )
    assert crop == (2, 53, 2, 53)
    # Crop rows 18..33 of 52 scale to patch rows 41.5 ..< 78.5 (120 / 52 per pixel).
    rows, cols = np.nonzero(lesion.mask)
    assert rows.min() in (41, 42) and rows.max() in (77, 78)
    assert cols.min() in (41, 42) and cols.max() in (77, 78)
    # Both squares are in the one patch: the mask holds the two diagonal quarters only.
    assert lesion.mask[50, 50] and lesion.mask[70, 70]
    assert not lesion.mask[50, 70] and not lesion.mask[70, 50]


def test_clipped_crop_at_the_image_edge(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0])
    lesion = by_slice(load_volume(tmp_path, 0))[5]
    assert (lesion.meta["crop_row_min"], lesion.meta["crop_row_max"]) == (0, 22)
    assert (lesion.meta["crop_col_min"], lesion.meta["crop_col_max"]) == (69, 95)
    # The 23×27 crop is stretched to 120×120: box rows 2..9 of 23 → 10.4 ..< 52.2,
    # box cols 12..22 of 27 → 53.3 ..< 102.2.
    rows, cols = np.nonzero(lesion.mask)
    assert rows.min() in (10, 11) and rows.max() in (51, 52)
    assert cols.min() in (53, 54) and cols.max() in (101, 102)


def test_components_are_eight_connected_with_their_area(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0])
    lesion = by_slice(load_volume(tmp_path, 0))[4]
    squares = [t.mask(SHAPE[:2]) for t in TUMOURS if t.slice == 4]
    assert lesion.meta["area_px"] == sum(int(s.sum()) for s in squares) == 128
    assert lesion.meta["component"] == 1


def test_default_window_keeps_hu_0_to_255_and_the_slice_fills_all_channels(tmp_path):
    write_lits_fixture(tmp_path, numbers=[7])
    lesion = by_slice(load_volume(tmp_path, 7))[4]
    image = lesion.image
    assert np.array_equal(image[..., 0], image[..., 1])
    assert np.array_equal(image[..., 0], image[..., 2])
    assert image[50, 50, 0] == TUMOUR_HU  # inside the first square
    assert image[99, 99, 0] == LIVER_HU + 7  # liver below-right of the squares
    # Air (-1000 HU) saturates to 0 at the top-right corner of the slice-5 patch.
    assert by_slice(load_volume(tmp_path, 7))[5].image[0, 119, 0] == 0


def test_window_setting_maps_hu_linearly(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0])
    settings = {**CORRECTED, "window": [-100, 200]}
    image = by_slice(load_volume(tmp_path, 0, settings))[4].image
    assert image[50, 50, 0] == 128  # (50 + 100) / 300 · 255 = 127.5, rounded half to even
    assert image[99, 99, 0] == 170  # (100 + 100) / 300 · 255


def test_window_to_uint8_clips_and_rounds():
    hu = np.array([-2000, -100, 0, 50, 200, 3000])
    assert window_to_uint8(hu, (-100, 200)).tolist() == [0, 0, 85, 128, 255, 255]


def test_small_components_are_excluded_with_their_size(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0])
    result = load_volume(tmp_path, 0)
    small = {t.slice: int(t.mask(SHAPE[:2]).sum()) for t in TUMOURS if t.radii in ((2, 2), (3, 3))}
    assert small == {1: 13, 3: 29}
    assert [e.lesion_id for e in result.exclusions] == [
        "volume-0_slice-0001_comp-2",
        "volume-0_slice-0003_comp-2",
    ]
    for exclusion, area in zip(result.exclusions, (13, 29), strict=True):
        assert f"{area} px" in exclusion.reason and "50 px" in exclusion.reason
        assert exclusion.source == "volume_pt1/volume-0.nii"
    lowered = load_volume(tmp_path, 0, {**CORRECTED, "min_component_px": 10})
    assert lowered.exclusions == []
    assert len(lowered.lesions) == 6


def test_segmentation_with_identity_affine_is_accepted(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0])
    volume = nib.load(tmp_path / "volume_pt1" / "volume-0.nii")
    segmentation = nib.load(tmp_path / "segmentations" / "segmentation-0.nii")
    assert not np.allclose(volume.affine, segmentation.affine)
    assert len(load_volume(tmp_path, 0).lesions) == 4


def test_scaled_volume_is_decoded_to_hu(tmp_path):
    hu, labels = volume_arrays(0)
    volume = nib.Nifti1Image((hu.astype(np.int32) + 1024).astype(np.uint16), VOLUME_AFFINE)
    volume.header.set_slope_inter(1.0, -1024.0)
    volume.to_filename(tmp_path / "volume-0.nii.gz")
    write_nifti(tmp_path / "segmentation-0.nii.gz", labels)
    image = by_slice(load_volume(tmp_path, 0))[4].image
    assert image[50, 50, 0] == TUMOUR_HU and image[99, 99, 0] == LIVER_HU


def test_load_is_deterministic(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0])
    first, second = load_volume(tmp_path, 0), load_volume(tmp_path, 0)
    for a, b in zip(first.lesions, second.lesions, strict=True):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_volume_without_tumour_gives_no_lesions(tmp_path):
    hu, labels = volume_arrays(0)
    labels[labels == 2] = 1
    write_nifti(tmp_path / "volume-0.nii", hu)
    write_nifti(tmp_path / "segmentation-0.nii", labels)
    result = load_volume(tmp_path, 0)
    assert result.lesions == [] and result.exclusions == []


# --- bad input ------------------------------------------------------------------------------


def test_empty_root_says_what_to_place_where(tmp_path):
    with pytest.raises(MissingFilesError) as raised:
        ADAPTER.list_items(tmp_path, PAPER)
    message = str(raised.value)
    assert str(tmp_path) in message
    assert "volume-0.nii" in message and "segmentation-0.nii" in message


def test_unpaired_files_are_listed_by_name(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0, 1, 2])
    (tmp_path / "segmentations" / "segmentation-1.nii").unlink()
    (tmp_path / "volume_pt1" / "volume-2.nii").unlink()
    with pytest.raises(MissingFilesError) as raised:
        ADAPTER.list_items(tmp_path, PAPER)
    message = str(raised.value)
    assert "volume_pt1/volume-1.nii has no segmentation-1" in message
    assert f"{tmp_path}/segmentations/segmentation-1.nii" in message
    assert "segmentations/segmentation-2.nii has no volume-2" in message
    assert f"{tmp_path}/volume_pt1/volume-2.nii" in message
    assert "volume-0" not in message


def test_expected_volumes_lists_the_absent_numbers(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0, 1, 4])
    with pytest.raises(MissingFilesError, match=r"N = 2-3, 5\b"):
        ADAPTER.list_items(tmp_path, {**PAPER, "expected_volumes": 6})
    assert len(ADAPTER.list_items(tmp_path, {**PAPER, "expected_volumes": 2})) == 3


def test_duplicate_copies_are_refused(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0])
    write_lits_fixture(tmp_path, numbers=[0], compressed=True)
    with pytest.raises(WeaklesionError, match="volume-0.nii and volume_pt1/volume-0.nii.gz"):
        ADAPTER.list_items(tmp_path, PAPER)


def test_shape_mismatch_names_both_files(tmp_path):
    hu, labels = volume_arrays(0)
    write_nifti(tmp_path / "v" / "volume-0.nii", hu)
    write_nifti(tmp_path / "s" / "segmentation-0.nii", labels[..., :5])
    with pytest.raises(BadImageError) as raised:
        load_volume(tmp_path, 0)
    assert raised.value.source == "v/volume-0.nii"
    assert "s/segmentation-0.nii" in str(raised.value)
    assert "(96, 96, 6)" in str(raised.value) and "(96, 96, 5)" in str(raised.value)


def test_unreadable_nifti_names_the_file(tmp_path):
    write_lits_fixture(tmp_path, numbers=[0])
    (tmp_path / "volume_pt1" / "volume-0.nii").write_bytes(b"not a nifti file" * 40)
    with pytest.raises(BadImageError, match="volume_pt1/volume-0.nii"):
        load_volume(tmp_path, 0)


def test_labels_outside_0_to_2_are_refused(tmp_path):
    hu, labels = volume_arrays(0)
    labels[0, 0, 0] = 7
    write_nifti(tmp_path / "volume-0.nii", hu)
    write_nifti(tmp_path / "segmentation-0.nii", labels)
    with pytest.raises(BadImageError, match=r"segmentation-0.nii: labels .* 0 to 7"):
        load_volume(tmp_path, 0)


@pytest.mark.parametrize(
    ("key", "value"),
    [("window", [200, 100]), ("window", "soft"), ("min_component_px", -1), ("expected_volumes", 0)],
)
def test_bad_settings_name_the_key(tmp_path, key, value):
    write_lits_fixture(tmp_path, numbers=[0])
    with pytest.raises(ConfigError, match=key):
        load_volume(tmp_path, 0, {**PAPER, key: value})


def test_paper_keeps_small_components_and_labels_them_the_released_way(tmp_path):
    """PROTOCOL items 4-6: the area rule drops nothing, the weak label is fitted and drawn on
    the crop, and every component the cluster features fit goes into the ellipse table,
    kept or not."""
    write_lits_fixture(tmp_path, numbers=[0])
    corrected = load_volume(tmp_path, 0, CORRECTED)
    paper = load_volume(tmp_path, 0, PAPER)
    assert not [e for e in paper.exclusions if "px minimum" in e.reason]
    kept = {lesion.lesion_id for lesion in paper.lesions}
    small = {"volume-0_slice-0001_comp-2", "volume-0_slice-0003_comp-2"}
    assert small <= {e.lesion_id for e in corrected.exclusions}
    assert small & kept, "a small component passes the released rules"
    for lesion in paper.lesions:
        label = lesion.weak_label
        crop = (lesion.meta["crop_row_max"] - lesion.meta["crop_row_min"] + 1,
                lesion.meta["crop_col_max"] - lesion.meta["crop_col_min"] + 1)
        assert label.target_frame == crop
        assert label.iou >= 0.4
    table_ids = [lesion_id for lesion_id, _ in paper.cluster_rows]
    # A lesion whose own features have too few hull points (here a square whose truncated
    # resize is a square) has no row, and no ellipse of its own.
    featureless = {lesion.lesion_id for lesion in paper.lesions
                   if np.isnan(lesion.weak_label.ellipse).all()}
    assert featureless == {"volume-0_slice-0003_comp-2"}
    assert kept - featureless <= set(table_ids) and not featureless & set(table_ids)
    assert table_ids == sorted(table_ids, key=lambda i: paper_order_key(*lits_numbers(i)))
    # Components excluded by the released rules still have their row in the table.
    assert set(table_ids) - kept == {e.lesion_id for e in paper.exclusions} & set(table_ids)
    assert all(lesion.weak_label is None for lesion in corrected.lesions)


def lits_numbers(lesion_id: str) -> tuple[int, int, int]:
    volume, slice_index, component = (part.split("-")[1] for part in lesion_id.split("_"))
    return int(volume), int(slice_index), int(component)
