"""The plain-folder adapter for users' own data: pairing, groups, formats, errors."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from fixtures_folder import SIZE, write_folder_fixture
from fixtures_ham import write_jpeg

from weaklesion import PATCH_SIZE
from weaklesion.datasets import get_adapter
from weaklesion.datasets.folder import FolderAdapter
from weaklesion.errors import BadImageError, MissingFilesError

ADAPTER = FolderAdapter()
SETTINGS = {"protocol": "paper", "on_bad_image": "fail"}


def load_all(root):
    return [ADAPTER.load(item, SETTINGS) for item in ADAPTER.list_items(root, SETTINGS)]


def resized(mask):
    return cv2.resize(mask.astype(np.uint8), (PATCH_SIZE, PATCH_SIZE),
                      interpolation=cv2.INTER_NEAREST).astype(bool)


def test_folder_format_uses_this_adapter():
    assert isinstance(get_adapter("folder"), FolderAdapter)
    assert ADAPTER.has_masks is True and ADAPTER.min_ellipse_iou is None


def test_pairs_png_and_jpg_images_with_masks_by_stem(tmp_path):
    cases = write_folder_fixture(tmp_path, n_images=4)
    assert {c.image_suffix for c in cases} == {".png", ".jpg"}
    assert {c.mask_foreground for c in cases} == {1, 255}
    items = ADAPTER.list_items(tmp_path, SETTINGS)
    assert [item.lesion_id for item in items] == [c.lesion_id for c in cases]
    for item, case in zip(items, cases, strict=True):
        assert item.image.member == str(case.image_path(tmp_path))
        assert item.mask.member == str(case.mask_path(tmp_path))
        assert item.group_id == case.lesion_id  # no groups.csv: each image is its own group
    for result, case in zip(load_all(tmp_path), cases, strict=True):
        assert result.exclusions == []
        (lesion,) = result.lesions
        assert lesion.lesion_id == case.lesion_id
        assert lesion.source == case.image_path(tmp_path).relative_to(tmp_path).as_posix()
        assert lesion.origin == str(case.image_path(tmp_path))
        assert lesion.meta == {"image": case.image_path(tmp_path).name}
        assert lesion.image.shape == (PATCH_SIZE, PATCH_SIZE, 3)
        expected = resized(case.mask())
        assert (lesion.mask != expected).sum() <= 0.05 * expected.sum()
        # RGB order: the lesion (90, 60, 40) is red-dominant, whatever the file format.
        inside = lesion.image[lesion.mask].mean(axis=0)
        assert np.allclose(inside, (90, 60, 40), atol=8)


def test_items_are_sorted_by_id(tmp_path):
    write_folder_fixture(tmp_path, n_images=3)
    # Ids that sort differently as numbers and as strings, and a JPEG named .jpeg.
    image = cv2.imread(str(tmp_path / "images" / "case_00.png"))
    mask = cv2.imread(str(tmp_path / "masks" / "case_00.png"), cv2.IMREAD_UNCHANGED)
    for stem in ("10", "9", "Z"):
        write_jpeg(tmp_path / "images" / f"{stem}.jpeg", cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        cv2.imwrite(str(tmp_path / "masks" / f"{stem}.png"), mask)
    ids = [item.lesion_id for item in ADAPTER.list_items(tmp_path, SETTINGS)]
    assert ids == ["10", "9", "Z", "case_00", "case_01", "case_02"]


def test_groups_csv_sets_the_group_and_unlisted_ids_keep_their_own(tmp_path):
    write_folder_fixture(tmp_path, n_images=4,
                         groups={"case_00": "patient_A", "case_02": "patient_A",
                                 "case_03": "patient_B"})
    items = ADAPTER.list_items(tmp_path, SETTINGS)
    assert [item.group_id for item in items] == ["patient_A", "case_01", "patient_A",
                                                 "patient_B"]
    lesions = [r.lesions[0] for r in load_all(tmp_path)]
    assert [lesion.group_id for lesion in lesions] == [item.group_id for item in items]


def test_groups_csv_with_other_columns_is_refused(tmp_path):
    write_folder_fixture(tmp_path, n_images=2)
    (tmp_path / "groups.csv").write_text("image,patient\ncase_00,A\n")
    with pytest.raises(MissingFilesError, match=r"groups\.csv.*id,group"):
        ADAPTER.list_items(tmp_path, SETTINGS)


def test_image_without_mask_names_the_missing_mask(tmp_path):
    cases = write_folder_fixture(tmp_path, n_images=3)
    cases[1].mask_path(tmp_path).unlink()
    item = ADAPTER.list_items(tmp_path, SETTINGS)[1]
    with pytest.raises(BadImageError, match="no mask masks/case_01.png") as error:
        ADAPTER.load(item, SETTINGS)
    assert error.value.source == str(cases[1].image_path(tmp_path))


def test_mask_without_image_names_the_missing_image(tmp_path):
    cases = write_folder_fixture(tmp_path, n_images=3)
    cases[2].image_path(tmp_path).unlink()
    item = ADAPTER.list_items(tmp_path, SETTINGS)[2]
    with pytest.raises(BadImageError, match=r"no image images/case_02\.png\|jpg") as error:
        ADAPTER.load(item, SETTINGS)
    assert error.value.source == str(cases[2].mask_path(tmp_path))


def test_two_images_with_one_id_are_refused(tmp_path):
    cases = write_folder_fixture(tmp_path, n_images=2)
    shutil.copy(cases[0].image_path(tmp_path), tmp_path / "images" / "case_00.jpg")
    with pytest.raises(BadImageError, match="two images share the id 'case_00'"):
        ADAPTER.list_items(tmp_path, SETTINGS)


def test_hidden_and_other_files_are_ignored(tmp_path):
    cases = write_folder_fixture(tmp_path, n_images=2)
    (tmp_path / "images" / "._case_00.png").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "images" / "notes.txt").write_text("scanned 2020")
    (tmp_path / "masks" / "case_00.jpg").write_bytes(b"not a mask")
    items = ADAPTER.list_items(tmp_path, SETTINGS)
    assert [item.lesion_id for item in items] == [c.lesion_id for c in cases]
    assert items[0].mask.member == str(cases[0].mask_path(tmp_path))


@pytest.mark.parametrize("missing", ["images", "masks"])
def test_missing_folder_is_named(tmp_path, missing):
    write_folder_fixture(tmp_path, n_images=2)
    shutil.rmtree(tmp_path / missing)
    with pytest.raises(MissingFilesError, match=str(tmp_path / missing)):
        ADAPTER.list_items(tmp_path, SETTINGS)


def test_empty_images_folder_is_named(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(MissingFilesError, match=f"no .png/.jpg images in {tmp_path / 'images'}"):
        ADAPTER.list_items(tmp_path, SETTINGS)


def test_mask_of_another_size_names_the_mask(tmp_path):
    cases = write_folder_fixture(tmp_path, n_images=2)
    small = np.zeros((SIZE[0] // 2, SIZE[1] // 2), np.uint8)
    small[10:30, 10:40] = 255
    cv2.imwrite(str(cases[0].mask_path(tmp_path)), small)
    item = ADAPTER.list_items(tmp_path, SETTINGS)[0]
    with pytest.raises(BadImageError, match="mask is 60×45") as error:
        ADAPTER.load(item, SETTINGS)
    assert error.value.source == str(cases[0].mask_path(tmp_path))
