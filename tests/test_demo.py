"""The synthetic demo dataset: deterministic, HAM10000-shaped archives, non-elliptic lesions."""

from __future__ import annotations

import hashlib
import zipfile

import cv2
import numpy as np
import pandas as pd
import pytest

from weaklesion.datasets.demo import DEMO_FILES, write_demo_dataset
from weaklesion.datasets.ham10000 import Ham10000Adapter
from weaklesion.ellipses.fitting import fit_ellipse_to_mask, mask_iou, rasterise_ellipse
from weaklesion.raw.manifest import read_manifest
from weaklesion.raw.unpack import unpack
from weaklesion.raw.verify import receipt_path, verify_all

N_IMAGES, WIDTH, HEIGHT = 12, 160, 120
MASK_FOLDER = "HAM10000_segmentations_lesion_tschandl"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    manifest = write_demo_dataset(out, n_images=N_IMAGES, width=WIDTH, height=HEIGHT, seed=0)
    return out, manifest


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(demo, tmp_path):
    out, _ = demo
    write_demo_dataset(tmp_path / "again", n_images=N_IMAGES, width=WIDTH, height=HEIGHT, seed=0)
    write_demo_dataset(tmp_path / "other", n_images=N_IMAGES, width=WIDTH, height=HEIGHT, seed=1)
    for name in (*DEMO_FILES, "manifest.tsv"):
        assert md5(out / name) == md5(tmp_path / "again" / name), name
    assert md5(out / DEMO_FILES[0]) != md5(tmp_path / "other" / DEMO_FILES[0])


def test_manifest_lists_every_file_with_its_size_and_md5(demo):
    out, manifest = demo
    assert manifest == out / "manifest.tsv"
    table = pd.read_csv(manifest, sep="\t", dtype=str, keep_default_na=False)
    assert list(table.columns) == ["name", "size", "md5", "url"]
    assert list(table["name"]) == list(DEMO_FILES)
    for row in table.itertuples():
        path = out / row.name
        assert int(row.size) == path.stat().st_size
        assert row.md5 == md5(path)
    # The workflow's own verification accepts it, and records each file's MD5 beside it.
    verify_all(read_manifest(manifest), out)
    receipts = [receipt_path(out / name).name for name in DEMO_FILES]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*DEMO_FILES, "manifest.tsv", *receipts])


def read_zip(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_archives_have_the_ham10000_layout(demo):
    out, _ = demo
    part_1 = read_zip(out / "HAM10000_images_part_1.zip")
    part_2 = read_zip(out / "HAM10000_images_part_2.zip")
    image_names = sorted([*part_1, *part_2])
    assert image_names == [f"ISIC_{24306 + i:07d}.jpg" for i in range(N_IMAGES)]
    assert len(part_1) == len(part_2) == N_IMAGES // 2
    masks = read_zip(out / "HAM10000_segmentations_lesion_tschandl.zip")
    real = sorted(n for n in masks if not n.startswith("__MACOSX/"))
    stubs = sorted(n for n in masks if n.startswith("__MACOSX/"))
    assert real == [f"{MASK_FOLDER}/{n[:-4]}_segmentation.png" for n in image_names]
    assert stubs == [f"__MACOSX/{MASK_FOLDER}/._{n[:-4]}_segmentation.png" for n in image_names]
    for name in stubs:
        assert cv2.imdecode(np.frombuffer(masks[name], np.uint8), cv2.IMREAD_UNCHANGED) is None
    for name in real:
        mask = cv2.imdecode(np.frombuffer(masks[name], np.uint8), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (HEIGHT, WIDTH) and mask.dtype == np.uint8
        assert set(np.unique(mask)) == {0, 255}
    first = cv2.imdecode(np.frombuffer(part_1[image_names[0]], np.uint8), cv2.IMREAD_COLOR)
    assert first.shape == (HEIGHT, WIDTH, 3)


def test_metadata_has_the_real_columns_and_repeated_lesions(demo):
    out, _ = demo
    table = pd.read_csv(out / "HAM10000_metadata.csv", dtype=str)
    assert list(table.columns) == ["lesion_id", "image_id", "dx", "dx_type", "age", "sex",
                                   "localization", "dataset"]
    assert sorted(table["image_id"]) == [f"ISIC_{24306 + i:07d}" for i in range(N_IMAGES)]
    assert table["lesion_id"].str.fullmatch(r"HAM_\d{7}").all()
    images_per_lesion = table["lesion_id"].value_counts()
    assert images_per_lesion.max() >= 2
    assert len(images_per_lesion) < N_IMAGES


def test_lesions_are_not_ellipses(demo):
    out, _ = demo
    masks = read_zip(out / "HAM10000_segmentations_lesion_tschandl.zip")
    ious = []
    for name, data in masks.items():
        if name.startswith("__MACOSX/"):
            continue
        mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) > 0
        ellipse = rasterise_ellipse(fit_ellipse_to_mask(mask), mask.shape)
        ious.append(mask_iou(ellipse, mask))
    assert len(ious) == N_IMAGES
    assert np.mean(ious) < 0.95
    assert min(ious) > 0.5  # still lesion-like: the ellipse is a fair weak label


def test_unpacked_demo_is_read_by_the_ham10000_adapter(demo, tmp_path):
    out, _ = demo
    tree = unpack([out / name for name in DEMO_FILES], tmp_path / "raw", progress=False)
    adapter = Ham10000Adapter()
    items = adapter.list_items(tree, {"protocol": "paper"})
    assert [item.image_id for item in items] == [f"ISIC_{24306 + i:07d}" for i in range(12)]
    lesion = adapter.load(items[0], {"protocol": "paper"}).lesions[0]
    metadata = pd.read_csv(out / "HAM10000_metadata.csv", dtype=str).set_index("image_id")
    assert lesion.group_id == metadata.loc[items[0].image_id, "lesion_id"]
    assert lesion.mask.any()


def test_demo_lesions_differ_in_size_and_colour(demo):
    out, _ = demo
    images = {**read_zip(out / "HAM10000_images_part_1.zip"),
              **read_zip(out / "HAM10000_images_part_2.zip")}
    masks = read_zip(out / "HAM10000_segmentations_lesion_tschandl.zip")
    areas, colours = [], []
    for name, jpg in sorted(images.items()):
        mask_name = f"{MASK_FOLDER}/{name[:-4]}_segmentation.png"
        mask = cv2.imdecode(np.frombuffer(masks[mask_name], np.uint8), cv2.IMREAD_UNCHANGED) > 0
        image = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
        areas.append(mask.mean())
        colours.append(image[mask].mean(axis=0))
        # The lesion is darker than the skin just around it (the vignette darkens corners).
        around = cv2.dilate(mask.astype(np.uint8), np.ones((11, 11), np.uint8)).astype(bool)
        assert image[mask].mean() < image[around & ~mask].mean()
    assert max(areas) > 2 * min(areas)
    assert np.ptp(np.array(colours), axis=0).max() > 30


def test_zip_members_are_stored_with_a_fixed_date(demo):
    out, _ = demo
    with zipfile.ZipFile(out / "HAM10000_images_part_1.zip") as archive:
        for info in archive.infolist():
            assert info.date_time == (2018, 6, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_STORED
        assert archive.testzip() is None
