"""HAM10000 adapter on a tiny copy in the Dataverse layout: finding, order, groups, errors."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from fixtures_ham import (
    HEIGHT,
    IMAGE_DIRS,
    MASK_DIR,
    METADATA_COLUMNS,
    METADATA_FILE,
    SKIN_RGB,
    WIDTH,
    write_ham_fixture,
    write_mask,
    write_png,
)

import weaklesion.datasets.ham10000 as ham
from weaklesion import PATCH_SIZE
from weaklesion.datasets import get_adapter
from weaklesion.datasets.ham10000 import Ham10000Adapter
from weaklesion.errors import BadImageError, MissingFilesError

ADAPTER = Ham10000Adapter()
PAPER = {"protocol": "paper", "on_bad_image": "fail"}
CORRECTED = {"protocol": "corrected", "on_bad_image": "fail"}


@pytest.fixture
def fixture(tmp_path):
    root = tmp_path / "ham"
    return root, write_ham_fixture(root, n_images=7)


def item_of(root, image_id, settings=PAPER):
    (item,) = [i for i in ADAPTER.list_items(root, settings) if i.image_id == image_id]
    return item


def load(root, image_id, settings=PAPER):
    return ADAPTER.load(item_of(root, image_id, settings), settings)


def test_demo_and_ham10000_formats_use_this_adapter():
    assert isinstance(get_adapter("ham10000"), Ham10000Adapter)
    assert isinstance(get_adapter("demo"), Ham10000Adapter)
    assert ADAPTER.has_masks is True and ADAPTER.min_ellipse_iou is None


def test_fixture_has_the_real_layout(fixture):
    root, images = fixture
    assert {p.name for p in root.iterdir()} == {*IMAGE_DIRS, MASK_DIR, METADATA_FILE}
    assert len(list((root / IMAGE_DIRS[0]).glob("ISIC_*.jpg"))) == 4
    assert len(list((root / IMAGE_DIRS[1]).glob("ISIC_*.jpg"))) == 3
    assert len(list((root / MASK_DIR / MASK_DIR).glob("*_segmentation.png"))) == 7
    assert len(list((root / MASK_DIR / "__MACOSX" / MASK_DIR).glob("._*"))) == 7
    lesions = [image.lesion_id for image in images]
    assert len(set(lesions)) < len(lesions)


def test_items_are_sorted_by_image_id_across_both_parts(fixture):
    root, images = fixture
    items = ADAPTER.list_items(root, PAPER)
    assert [item.image_id for item in items] == sorted(image.image_id for image in images)
    for item, image in zip(items, images, strict=True):
        assert item.image.member == str(image.image_path(root))
        assert item.mask.member == str(image.mask_path(root))
        assert not item.paper_excluded


def test_macos_stubs_are_ignored_even_when_named_like_masks(fixture):
    root, images = fixture
    # A stub whose name matches the mask pattern, inside the __MACOSX tree.
    stub_dir = root / MASK_DIR / "__MACOSX" / MASK_DIR
    (stub_dir / "ISIC_0099999_segmentation.png").write_bytes(b"\x00\x05\x16\x07")
    (root / MASK_DIR / MASK_DIR / "._ISIC_0099998_segmentation.png").write_bytes(b"\x00")
    items = ADAPTER.list_items(root, PAPER)
    assert [item.image_id for item in items] == [image.image_id for image in images]
    assert all("__MACOSX" not in str(item.mask) for item in items)


def test_lesion_patch_group_and_metadata(fixture):
    root, images = fixture
    for image in images:
        (lesion,) = load(root, image.image_id).lesions
        assert lesion.lesion_id == image.image_id
        assert lesion.group_id == image.lesion_id
        assert lesion.source == image.image_path(root).relative_to(root).as_posix()
        assert lesion.origin == str(image.image_path(root))
        # Every metadata column but image_id, which is the lesion_id.
        assert lesion.meta == {k: v for k, v in image.metadata.items() if k != "image_id"}
        assert set(lesion.meta) == set(METADATA_COLUMNS) - {"image_id"}
        assert lesion.image.shape == (PATCH_SIZE, PATCH_SIZE, 3)
        assert lesion.image.dtype == np.uint8
        assert lesion.mask.shape == (PATCH_SIZE, PATCH_SIZE) and lesion.mask.dtype == bool
        assert lesion.recist is None
        # The whole image is resized: the lesion keeps its place and shape (rows are kept,
        # columns scaled by 120/160), up to a pixel of resampling at the border.
        expected = cv2.resize(image.mask().astype(np.uint8), (PATCH_SIZE, PATCH_SIZE),
                              interpolation=cv2.INTER_NEAREST).astype(bool)
        assert (lesion.mask != expected).sum() <= 0.05 * expected.sum()
        # RGB, not OpenCV's BGR: the skin in the corner is red-dominant.
        corner = lesion.image[:5, :5].reshape(-1, 3).mean(axis=0)
        assert np.allclose(corner, SKIN_RGB, atol=6)
        inside = lesion.image[lesion.mask].mean(axis=0)
        assert np.allclose(inside, image.lesion_rgb, atol=10)


def test_several_images_of_one_lesion_share_its_group(fixture):
    root, images = fixture
    groups = {}
    for image in images:
        (lesion,) = load(root, image.image_id).lesions
        groups.setdefault(lesion.group_id, []).append(lesion.lesion_id)
    assert max(len(ids) for ids in groups.values()) >= 2
    for group, ids in groups.items():
        assert ids == [i.image_id for i in images if i.lesion_id == group]


def test_tab_separated_metadata_is_read(fixture):
    root, images = fixture
    csv = root / METADATA_FILE
    (root / "HAM10000_metadata.tab").write_text(csv.read_text().replace(",", "\t"))
    csv.unlink()
    (lesion,) = load(root, images[0].image_id).lesions
    assert lesion.meta["dx"] == images[0].metadata["dx"]
    assert lesion.meta["dataset"] == images[0].metadata["dataset"]


# --- missing files -------------------------------------------------------------------------


def test_missing_image_folders_are_named(fixture):
    root, _ = fixture
    for folder in IMAGE_DIRS:
        shutil.rmtree(root / folder)
    with pytest.raises(MissingFilesError, match="HAM10000_images_part_1") as error:
        ADAPTER.list_items(root, PAPER)
    assert "HAM10000_images_part_2" in str(error.value)
    assert str(root) in str(error.value)


def test_missing_mask_folder_is_named(fixture):
    root, _ = fixture
    shutil.rmtree(root / MASK_DIR)
    with pytest.raises(MissingFilesError, match=MASK_DIR) as error:
        ADAPTER.list_items(root, PAPER)
    assert "images_part" not in str(error.value).split(" found in")[0]


def test_missing_metadata_file_is_named(fixture):
    root, _ = fixture
    (root / METADATA_FILE).unlink()
    with pytest.raises(MissingFilesError, match="HAM10000_metadata.csv"):
        ADAPTER.list_items(root, PAPER)


def test_metadata_without_image_id_column_is_named(fixture):
    root, _ = fixture
    csv = root / METADATA_FILE
    csv.write_text(csv.read_text().replace("image_id", "isic_id", 1))
    with pytest.raises(MissingFilesError, match=r"HAM10000_metadata\.csv.*image_id"):
        ADAPTER.list_items(root, PAPER)


def test_image_listed_twice_in_metadata_is_refused(fixture):
    root, images = fixture
    csv = root / METADATA_FILE
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([*lines, lines[1]]) + "\n")
    with pytest.raises(BadImageError, match="appears twice") as error:
        ADAPTER.list_items(root, PAPER)
    assert error.value.source == str(csv)


# --- bad items: each names its file ---------------------------------------------------------


def test_image_without_metadata_row(fixture):
    root, images = fixture
    target = images[2]
    csv = root / METADATA_FILE
    csv.write_text("".join(line for line in csv.read_text().splitlines(keepends=True)
                           if target.image_id not in line))
    with pytest.raises(BadImageError, match=f"{target.image_id} has no row") as error:
        load(root, target.image_id)
    assert error.value.source == str(target.image_path(root))


def test_image_without_mask(fixture):
    root, images = fixture
    target = images[1]
    target.mask_path(root).unlink()
    with pytest.raises(BadImageError, match=f"no mask {target.image_id}_segmentation.png") as e:
        load(root, target.image_id)
    assert e.value.source == str(target.image_path(root))


def test_mask_without_image(fixture):
    root, images = fixture
    target = images[-1]
    target.image_path(root).unlink()
    items = ADAPTER.list_items(root, PAPER)
    assert target.image_id in [item.image_id for item in items]
    with pytest.raises(BadImageError, match=f"no image {target.image_id}.jpg") as error:
        load(root, target.image_id)
    assert error.value.source == str(target.mask_path(root))


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.98])
def test_truncated_jpeg(fixture, keep):
    root, images = fixture
    path = images[0].image_path(root)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(BadImageError) as error:
        load(root, images[0].image_id)
    assert error.value.source == str(path)


def test_file_that_is_not_an_image(fixture):
    root, images = fixture
    path = images[0].image_path(root)
    path.write_text("<html>login required</html>")
    with pytest.raises(BadImageError, match="cannot be read") as error:
        load(root, images[0].image_id)
    assert error.value.source == str(path)


def test_empty_mask(fixture):
    root, images = fixture
    path = images[3].mask_path(root)
    write_mask(path, np.zeros((HEIGHT, WIDTH), bool))
    with pytest.raises(BadImageError, match="mask is empty") as error:
        load(root, images[3].image_id)
    assert error.value.source == str(path)


def test_mask_of_a_different_size(fixture):
    root, images = fixture
    path = images[3].mask_path(root)
    write_mask(path, np.ones((HEIGHT // 2, WIDTH // 2), bool))
    with pytest.raises(BadImageError, match=r"mask is 80×60 but its image .* is 160×120") as e:
        load(root, images[3].image_id)
    assert e.value.source == str(path)


def test_non_binary_mask(fixture):
    root, images = fixture
    path = images[3].mask_path(root)
    labels = images[3].mask().astype(np.uint8) * 255
    labels[:10, :10] = 128
    write_png(path, labels)
    with pytest.raises(BadImageError, match="not binary") as error:
        load(root, images[3].image_id)
    assert error.value.source == str(path)


def test_coloured_mask_is_refused_but_grey_rgb_is_read(fixture):
    root, images = fixture
    target = images[3]
    grey = np.repeat((target.mask().astype(np.uint8) * 255)[..., None], 3, axis=2)
    write_png(target.mask_path(root), grey)
    (reference,) = load(root, target.image_id).lesions
    coloured = grey.copy()
    coloured[target.mask(), 0] = 0
    write_png(target.mask_path(root), coloured)
    with pytest.raises(BadImageError, match="colours"):
        load(root, target.image_id)
    assert reference.mask.any()


def test_mask_in_0_1_and_16_bit_is_the_same_mask(fixture):
    root, images = fixture
    target = images[4]
    (reference,) = load(root, target.image_id).lesions
    write_mask(target.mask_path(root), target.mask(), foreground=1)
    (as_ones,) = load(root, target.image_id).lesions
    write_png(target.mask_path(root), target.mask().astype(np.uint16) * 65535)
    (as_16_bit,) = load(root, target.image_id).lesions
    assert np.array_equal(as_ones.mask, reference.mask)
    assert np.array_equal(as_16_bit.mask, reference.mask)


# --- the paper's three exclusions ------------------------------------------------------------


@pytest.fixture
def paper_sized(monkeypatch, fixture):
    """Pretend the 7-image fixture is the full release, with exclusions at 1, 4 and 6."""
    monkeypatch.setattr(ham, "PAPER_IMAGE_COUNT", 7)
    monkeypatch.setattr(ham, "PAPER_EXCLUDED_POSITIONS", (1, 4, 6))
    return fixture


def test_paper_exclusions_by_sorted_position(paper_sized):
    root, images = paper_sized
    items = ADAPTER.list_items(root, PAPER)
    assert [item.paper_excluded for item in items] == [
        False, True, False, False, True, False, True,
    ]  # fmt: skip
    excluded = items[4]
    result = ADAPTER.load(excluded, PAPER)
    assert result.lesions == []
    (exclusion,) = result.exclusions
    assert exclusion.lesion_id == images[4].image_id
    assert exclusion.source == str(images[4].image_path(root))
    assert "excluded by the paper" in exclusion.reason


def test_paper_exclusions_count_unpaired_masks_in_the_positions(paper_sized):
    root, images = paper_sized
    images[0].image_path(root).unlink()  # its mask still holds position 0
    items = ADAPTER.list_items(root, PAPER)
    assert [item.image_id for item in items if item.paper_excluded] == [
        images[i].image_id for i in (1, 4, 6)
    ]


def test_no_paper_exclusions_under_the_corrected_protocol(paper_sized):
    root, images = paper_sized
    # Listing the files is the same for both protocols (done once for both); loading decides.
    items = ADAPTER.list_items(root, CORRECTED)
    assert items == ADAPTER.list_items(root, PAPER)
    (lesion,) = ADAPTER.load(items[4], CORRECTED).lesions
    assert lesion.lesion_id == images[4].image_id


def test_no_paper_exclusions_unless_the_image_count_is_the_papers(paper_sized):
    root, images = paper_sized
    images[5].image_path(root).unlink()
    images[5].mask_path(root).unlink()
    assert not any(item.paper_excluded for item in ADAPTER.list_items(root, PAPER))


def test_the_real_exclusion_positions_are_the_papers():
    assert ham.PAPER_IMAGE_COUNT == 10_015
    assert ham.PAPER_EXCLUDED_POSITIONS == (1736, 3925, 5513)


def test_truncated_progressive_jpeg(fixture):
    root, images = fixture
    path = images[0].image_path(root)
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    path.write_bytes(data.tobytes()[: int(len(data) * 0.8)])
    with pytest.raises(BadImageError, match="truncated") as error:
        load(root, images[0].image_id)
    assert error.value.source == str(path)


def test_bytes_after_the_jpeg_end_marker_are_allowed(fixture):
    root, images = fixture
    path = images[0].image_path(root)
    (reference,) = load(root, images[0].image_id).lesions
    # Some cameras append data (thumbnails, motion-photo video) after the image.
    path.write_bytes(path.read_bytes() + bytes(range(256)) * 8)
    (lesion,) = load(root, images[0].image_id).lesions
    assert np.array_equal(lesion.image, reference.image)
