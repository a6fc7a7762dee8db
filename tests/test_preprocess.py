"""Stage 2 end to end on tiny fixtures of every format, and the config entries feeding it."""

from __future__ import annotations

import json

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
from fixtures_deeplesion import fixture_lesions, write_deeplesion_fixture
from fixtures_folder import write_folder_fixture
from fixtures_ham import patch_ellipse, write_ham_fixture, write_mask
from fixtures_lits import volume_arrays, write_lits_fixture, write_nifti
from workflow_helpers import validated_entry

from weaklesion import PATCH_SIZE
from weaklesion.datasets import adapter_class
from weaklesion.datasets.imaging import read_binary_mask, released_resize_mask
from weaklesion.datasets.lits import LitsAdapter
from weaklesion.datasets.patch_store import read_table
from weaklesion.datasets.preprocess import EXCLUDED_COLUMNS, preprocess, source_listing
from weaklesion.ellipses.fitting import released_cluster_features, released_fit
from weaklesion.errors import BadImageError, ConfigError, MissingFilesError, WeaklesionError
from weaklesion.workflow.config import (
    preprocess_settings,
    resolve_dataset,
    resolve_datasets,
    source_settings,
)

PAPER = {"protocol": "paper", "on_bad_image": "fail"}
CORRECTED = {"protocol": "corrected", "on_bad_image": "fail"}
SKIP = {"protocol": "paper", "on_bad_image": "skip"}
ARRAYS = ("image", "mask", "recist", "ellipse", "ellipse_iou")


def run(tmp_path, fmt, root, settings=PAPER, workers=1, name="out"):
    out = tmp_path / name
    counts = preprocess(fmt=fmt, root=root, settings=settings, dataset="ds",
                        data_h5=out / "data.h5", excluded_csv=out / "excluded.csv",
                        workers=workers)
    return out, counts


def excluded(out) -> pd.DataFrame:
    table = pd.read_csv(out / "excluded.csv", dtype=str, keep_default_na=False)
    assert list(table.columns) == EXCLUDED_COLUMNS
    return table


def stored(out) -> dict[str, np.ndarray]:
    with h5py.File(out / "data.h5", "r") as h5:
        return {name: h5[name][:] for name in ARRAYS if name in h5}


def canonical(cx, cy, width, height, angle):
    if width >= height:
        return cx, cy, width, height, angle % 180
    return cx, cy, height, width, (angle + 90) % 180


def angle_difference(a, b):
    return abs((a - b + 90) % 180 - 90)


@pytest.fixture
def ham(tmp_path):
    root = tmp_path / "ham"
    return root, write_ham_fixture(root, n_images=6)


# --- HAM10000 and folder formats -------------------------------------------------------------


def test_ham10000_patches_ellipses_and_ids(tmp_path, ham):
    root, images = ham
    out, counts = run(tmp_path, "ham10000", root, settings=CORRECTED)
    assert counts == {"kept": 6, "excluded": 0}
    assert len(excluded(out)) == 0
    arrays = stored(out)
    assert arrays["image"].shape == (6, PATCH_SIZE, PATCH_SIZE, 3)
    assert arrays["image"].dtype == np.uint8
    assert arrays["mask"].shape == (6, PATCH_SIZE, PATCH_SIZE) and arrays["mask"].dtype == bool
    assert "recist" not in arrays
    table = read_table(out / "data.h5")
    assert list(table["lesion_id"]) == [image.image_id for image in images]
    assert list(table["group_id"]) == [image.lesion_id for image in images]
    assert list(table["meta_dx"]) == [image.metadata["dx"] for image in images]
    assert list(table["meta_age"]) == [float(image.metadata["age"]) for image in images]
    for row, image in zip(table.itertuples(), images, strict=True):
        # The fixture's axis-aligned ellipse, resized from 160×120 to 120×120.
        found = canonical(row.cx, row.cy, row.width, row.height, row.angle)
        want = canonical(*patch_ellipse(image), 0.0)
        assert np.allclose(found[:4], want[:4], atol=1.0), (found, want)
        assert angle_difference(found[4], want[4]) <= 1
        assert 0.9 <= row.ellipse_iou <= 1
    with h5py.File(out / "data.h5", "r") as h5:
        assert h5.attrs["format"] == "ham10000" and h5.attrs["dataset"] == "ds"
        assert json.loads(h5.attrs["settings"]) == CORRECTED
        assert h5.attrs["target_recipe"] == "exact"
        # Under corrected the target is drawn from the same ellipse, on the patch.
        np.testing.assert_array_equal(h5["target_ellipse"][:], h5["ellipse"][:])
        assert (h5["target_frame"][:] == PATCH_SIZE).all()


def test_ham10000_under_paper_keeps_the_released_weak_label(tmp_path, ham):
    """Cluster features from the truncated 120×120 resize of the mask, the target's ellipse
    fitted on the full-size mask (PROTOCOL items 7, 8), bilinear image, nearest GT."""
    root, images = ham
    out, counts = run(tmp_path, "ham10000", root, settings=PAPER)
    assert counts == {"kept": 6, "excluded": 0}
    arrays = stored(out)
    with h5py.File(out / "data.h5", "r") as h5:
        assert h5.attrs["target_recipe"] == "ham10000"
        target_ellipse, frames = h5["target_ellipse"][:], h5["target_frame"][:]
    for i, image in enumerate(images):
        full_mask = read_binary_mask(image.mask_path(root))
        np.testing.assert_allclose(arrays["ellipse"][i], released_cluster_features(full_mask),
                                   rtol=1e-6)
        full_fit = released_fit(full_mask.astype(np.uint8) * 255)
        np.testing.assert_allclose(target_ellipse[i], full_fit, rtol=1e-6)
        assert tuple(frames[i]) == full_mask.shape
        np.testing.assert_array_equal(arrays["mask"][i], released_resize_mask(full_mask))


def flat_triangle(shape=(120, 160)) -> np.ndarray:
    """A sliver the released fit gives an ellipse (a poor one) and this project's refuses."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, np.array([[20, 100], [140, 100], [80, 95]]), 1)
    return mask.astype(bool)


def test_paper_keeps_what_the_released_fit_kept_with_a_warning(tmp_path, ham, caplog):
    """Item 16: the paper's split is a shuffle over the images kept, so under paper an image
    is dropped only where the released fit fails, even if this project's fit refuses it."""
    root, images = ham
    write_mask(images[2].mask_path(root), flat_triangle())
    with caplog.at_level("WARNING", logger="weaklesion.datasets.preprocess"):
        out, counts = run(tmp_path, "ham10000", root, settings=PAPER)
    assert counts == {"kept": 6, "excluded": 0}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert str(images[2].image_path(root)) in warning
    assert "kept under protocol paper" in warning and "centred outside" in warning
    out, counts = run(tmp_path, "ham10000", root, settings=CORRECTED, name="corrected")
    assert counts == {"kept": 5, "excluded": 1}
    assert excluded(out)["lesion_id"].tolist() == [images[2].image_id]


@pytest.mark.parametrize("settings", [PAPER, CORRECTED], ids=["paper", "corrected"])
@pytest.mark.parametrize("fmt", ["ham10000", "folder"])
def test_two_workers_write_the_same_bytes_in_the_same_order(tmp_path, fmt, settings):
    root = tmp_path / "raw"
    if fmt == "ham10000":
        write_ham_fixture(root, n_images=7)
    else:
        write_folder_fixture(root, n_images=5)
    one, counts_one = run(tmp_path, fmt, root, settings, workers=1, name="one")
    two, counts_two = run(tmp_path, fmt, root, settings, workers=2, name="two")
    assert counts_one == counts_two
    arrays_one, arrays_two = stored(one), stored(two)
    assert arrays_one.keys() == arrays_two.keys()
    for name, values in arrays_one.items():
        assert values.tobytes() == arrays_two[name].tobytes(), name
    pd.testing.assert_frame_equal(read_table(one / "data.h5"), read_table(two / "data.h5"))
    assert (one / "excluded.csv").read_bytes() == (two / "excluded.csv").read_bytes()


def test_workers_start_before_the_items_are_listed(tmp_path, monkeypatch):
    """A forked worker maps its parent's heap: items listed before the fork would be resident
    once more per worker, and that copy grows with the dataset (benchmarks/bench_memory.py)."""
    import multiprocessing

    from weaklesion.datasets.ham10000 import Ham10000Adapter

    root = tmp_path / "raw"
    write_ham_fixture(root, n_images=3)
    workers_alive = []
    list_items = Ham10000Adapter.list_items

    def listing_after_the_fork(self, *args):
        workers_alive.append(len(multiprocessing.active_children()))
        return list_items(self, *args)

    monkeypatch.setattr(Ham10000Adapter, "list_items", listing_after_the_fork)
    _, counts = run(tmp_path, "ham10000", root, workers=2)
    assert workers_alive == [2]
    assert counts["kept"] == 3


def test_folder_dataset_keeps_groups_and_masks(tmp_path):
    root = tmp_path / "raw"
    cases = write_folder_fixture(root, n_images=4, groups={"case_01": "p1", "case_02": "p1"})
    out, counts = run(tmp_path, "folder", root)
    assert counts == {"kept": 4, "excluded": 0}
    table = read_table(out / "data.h5")
    assert list(table["lesion_id"]) == [c.lesion_id for c in cases]
    assert list(table["group_id"]) == ["case_00", "p1", "p1", "case_03"]
    assert list(table["meta_image"]) == [c.image_path(root).name for c in cases]


# --- bad items ------------------------------------------------------------------------------


def leftovers(out):
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_image_fails_naming_the_file_and_the_skip_setting(tmp_path, ham, workers):
    root, images = ham
    broken = images[2].image_path(root)
    broken.write_bytes(broken.read_bytes()[:200])
    with pytest.raises(BadImageError, match="on_bad_image: skip") as error:
        run(tmp_path, "ham10000", root, workers=workers)
    assert error.value.source == str(broken)
    assert str(broken) in str(error.value)
    assert "'ds'" in str(error.value)
    # Neither the final files nor temporary ones are left behind.
    assert leftovers(tmp_path / "out") == []


def plant_faults(root, cases) -> dict[str, str]:
    """Eight faults a real folder of images has, in cases 3, 5, … 17: lesion id → the file
    the error must name."""
    def case(i):
        return cases[i], cases[i].image_path(root), cases[i].mask_path(root)
    faults = {}
    _, image, _ = case(3)
    image.write_bytes(b"")  # an empty file
    faults[cases[3].lesion_id] = image
    _, image, _ = case(5)
    image.write_bytes(np.random.default_rng(5).bytes(3000))  # not an image at all
    faults[cases[5].lesion_id] = image
    _, image, _ = case(7)
    image.write_bytes(b"<html>404 Not Found</html>")  # a failed download saved as .jpg
    faults[cases[7].lesion_id] = image
    _, image, mask = case(9)
    mask.unlink()  # an image without its mask
    faults[cases[9].lesion_id] = image
    _, image, mask = case(11)
    image.unlink()  # a mask without its image
    faults[cases[11].lesion_id] = mask
    _, _, mask = case(13)
    labels = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE).astype(np.uint8)
    labels[:10, :10] = 2
    labels[labels > 2] = 1
    cv2.imwrite(str(mask), labels)  # a label map with three values, not a lesion mask
    faults[cases[13].lesion_id] = mask
    _, _, mask = case(15)
    soft = np.tile(np.linspace(0, 255, 160).astype(np.uint8), (120, 1))
    cv2.imwrite(str(mask), soft)  # a probability map
    faults[cases[15].lesion_id] = mask
    _, _, mask = case(17)
    mask.write_bytes(mask.read_bytes()[:40])  # cut off after its header
    faults[cases[17].lesion_id] = mask
    return {lesion_id: str(path) for lesion_id, path in faults.items()}


@pytest.mark.parametrize("workers", [1, 2])
def test_fail_checks_every_item_and_names_every_bad_file(tmp_path, workers):
    """A folder of 30 images with 8 faults: one failed run names all 8, so one fix-up round
    is enough; with skip, every excluded.csv row carries its lesion's id."""
    root = tmp_path / "folder"
    cases = write_folder_fixture(root, n_images=30)
    faults = plant_faults(root, cases)
    with pytest.raises(WeaklesionError, match="ds: 8 items cannot be used") as error:
        run(tmp_path, "folder", root, workers=workers)
    message = str(error.value)
    assert [line.strip().split(":")[0] for line in message.splitlines()[1:]] == [
        faults[lesion_id] for lesion_id in sorted(faults)]
    assert "on_bad_image: skip" in message
    assert leftovers(tmp_path / "out") == []
    out, counts = run(tmp_path, "folder", root, settings=SKIP, workers=workers, name="skip")
    assert counts == {"kept": 22, "excluded": 8}
    table = excluded(out)
    assert dict(zip(table["lesion_id"], table["source"], strict=True)) == faults
    kept = set(read_table(out / "data.h5")["lesion_id"])
    assert kept == {c.lesion_id for c in cases} - set(faults)


def test_many_bad_files_are_named_up_to_a_limit_then_counted(tmp_path):
    root = tmp_path / "folder"
    cases = write_folder_fixture(root, n_images=36)
    for case in cases[:34]:
        case.image_path(root).write_bytes(b"")
    with pytest.raises(WeaklesionError, match="ds: 34 items cannot be used") as error:
        run(tmp_path, "folder", root)
    lines = str(error.value).splitlines()
    assert len(lines) == 1 + 30 + 1
    assert lines[1].strip().startswith(str(cases[0].image_path(root)))
    assert lines[-1].strip() == "… and 4 more"


def test_skip_lists_bad_images_with_their_reason_and_keeps_the_rest(tmp_path, ham):
    root, images = ham
    broken = images[2].image_path(root)
    broken.write_bytes(broken.read_bytes()[:200])
    images[4].mask_path(root).unlink()
    out, counts = run(tmp_path, "ham10000", root, settings=SKIP, workers=2)
    assert counts == {"kept": 4, "excluded": 2}
    table = excluded(out)
    assert list(table["source"]) == [str(broken), str(images[4].image_path(root))]
    assert "cannot be read" in table["reason"][0]
    assert f"no mask {images[4].image_id}_segmentation.png" in table["reason"][1]
    kept = read_table(out / "data.h5")["lesion_id"]
    assert list(kept) == [images[i].image_id for i in (0, 1, 3, 5)]
    assert leftovers(out) == ["data.h5", "excluded.csv"]


@pytest.mark.parametrize(("settings", "reason"), [
    pytest.param(CORRECTED, "convex hull has 4 points, fitEllipse needs 5", id="corrected"),
    pytest.param(PAPER, "the released full-size ellipse fit has fewer than 5 hull points",
                 id="paper"),
])
def test_failed_ellipse_fit_is_excluded_not_fatal(tmp_path, ham, settings, reason):
    root, images = ham
    # An axis-aligned rectangle: its hull has 4 points, too few for an ellipse.
    rectangle = np.zeros((120, 160), bool)
    rectangle[30:90, 40:120] = True
    write_mask(images[1].mask_path(root), rectangle)
    out, counts = run(tmp_path, "ham10000", root, settings)  # on_bad_image: fail
    assert counts == {"kept": 5, "excluded": 1}
    (row,) = excluded(out).itertuples()
    assert row.lesion_id == images[1].image_id
    assert row.source == str(images[1].image_path(root))
    assert row.reason == f"ellipse fit failed: {reason}"
    assert images[1].image_id not in set(read_table(out / "data.h5")["lesion_id"])


def test_no_lesion_left_is_an_error_and_leaves_nothing(tmp_path, ham):
    root, images = ham
    line = np.zeros((120, 160), bool)  # thick enough to survive resizing, too thin to fit
    line[58:62, 10:150] = True
    for image in images:
        write_mask(image.mask_path(root), line)
    with pytest.raises(WeaklesionError, match="no lesion is left after exclusions") as error:
        run(tmp_path, "ham10000", root)
    assert "6 excluded, first reason: ellipse fit failed" in str(error.value)
    assert leftovers(tmp_path / "out") == []


def test_missing_folders_fail_before_any_work(tmp_path):
    with pytest.raises(MissingFilesError, match="HAM10000_images_part_1") as error:
        run(tmp_path, "ham10000", tmp_path / "nothing")
    assert f"{tmp_path / 'nothing'} (which does not exist)" in str(error.value)
    assert leftovers(tmp_path / "out") == []


def test_existing_outputs_survive_a_failed_rerun(tmp_path, ham):
    root, images = ham
    out, _ = run(tmp_path, "ham10000", root)
    before = (out / "data.h5").read_bytes()
    broken = images[0].image_path(root)
    broken.write_bytes(b"")
    with pytest.raises(BadImageError):
        run(tmp_path, "ham10000", root)
    assert (out / "data.h5").read_bytes() == before
    assert leftovers(out) == ["data.h5", "excluded.csv"]


# --- LiTS and DeepLesion --------------------------------------------------------------------


def write_ring_volume(root, number=7):
    """A LiTS volume whose slice 2 holds one ring-shaped tumour: its filled ellipse covers the
    hole, so the ellipse's IoU with the ring is about 1 - 0.8² = 0.36, under 0.4."""
    hu, labels = volume_arrays(number)
    rows, cols = np.indices(labels.shape[:2])
    radius = np.hypot(rows - 45, cols - 50)
    ring = (radius <= 12) & (radius >= 9.6)
    labels[..., 2][ring] = 2
    hu[..., 2][ring] = 50
    write_nifti(root / "volume_pt1" / f"volume-{number}.nii", hu)
    write_nifti(root / "segmentations" / f"segmentation-{number}.nii", labels)
    return f"volume-{number}_slice-0002_comp-1"


def test_lits_drops_ellipses_under_the_minimum_iou(tmp_path):
    root = write_lits_fixture(tmp_path / "lits", numbers=[0])
    ring_id = write_ring_volume(root)
    out, counts = run(tmp_path, "lits", root, settings=CORRECTED)
    table = read_table(out / "data.h5")
    assert ring_id not in set(table["lesion_id"])
    assert (table["ellipse_iou"] >= 0.4).all()
    reasons = excluded(out).set_index("lesion_id")["reason"]
    assert reasons[ring_id].startswith("ellipse fit failed: ellipse IoU with the mask 0.3")
    assert reasons[ring_id].endswith("< 0.4")
    assert counts["kept"] == len(table) and counts["excluded"] == len(reasons)


def test_lits_ring_is_kept_without_the_threshold(tmp_path, monkeypatch):
    # The same data with the threshold switched off: the ring is there, with its low IoU.
    monkeypatch.setattr(LitsAdapter, "min_ellipse_iou", None)
    root = write_lits_fixture(tmp_path / "lits", numbers=[0])
    ring_id = write_ring_volume(root)
    out, _ = run(tmp_path, "lits", root, settings=CORRECTED)
    table = read_table(out / "data.h5").set_index("lesion_id")
    assert 0.3 <= table.loc[ring_id, "ellipse_iou"] < 0.4


def test_deeplesion_stores_recist_and_no_mask(tmp_path):
    root = write_deeplesion_fixture(tmp_path / "dl", n_patients=2)
    out, counts = run(tmp_path, "deeplesion", root, workers=2)
    lesions = fixture_lesions(2)
    assert counts == {"kept": len(lesions), "excluded": 0}
    arrays = stored(out)
    assert "mask" not in arrays
    assert arrays["recist"].shape == (len(lesions), 4, 2)
    assert arrays["recist"].dtype == np.float32
    assert np.isnan(arrays["ellipse_iou"]).all()
    table = read_table(out / "data.h5")
    assert list(table["meta_row"]) == [float(lesion.row) for lesion in lesions]
    for row, lesion in zip(table.itertuples(), lesions, strict=True):
        long_semi, short_semi = lesion.semi_axes
        # The patch is centred on the lesion; width = short diameter along the short axis.
        assert (row.width, row.height) == pytest.approx((2 * short_semi, 2 * long_semi),
                                                         abs=1e-3)
        assert angle_difference(row.angle, lesion.angle + 90) < 1e-3
        assert (row.cx, row.cy) == pytest.approx((PATCH_SIZE // 2, PATCH_SIZE // 2), abs=1e-3)


# --- source listing -------------------------------------------------------------------------


def test_source_listing_lists_items(tmp_path, ham):
    root, images = ham
    listing = source_listing("ham10000", root, PAPER)
    assert list(listing["image_id"]) == [image.image_id for image in images]
    assert list(listing["image"]) == [str(image.image_path(root)) for image in images]
    assert list(listing["mask"]) == [str(image.mask_path(root)) for image in images]


def test_source_listing_of_a_folder_dataset(tmp_path):
    cases = write_folder_fixture(tmp_path, n_images=3)
    listing = source_listing("folder", tmp_path, PAPER)
    assert list(listing["lesion_id"]) == [c.lesion_id for c in cases]


def test_source_listing_fails_early_naming_missing_files(tmp_path):
    with pytest.raises(MissingFilesError, match="No LiTS files found"):
        source_listing("lits", tmp_path, PAPER)


# --- config entries ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "k"), [("ham10000", 45), ("lits", 40), ("deeplesion", 190),
                                        ("folder", 10), ("demo", 6)])
def test_default_k_per_format(fmt, k):
    entry = validated_entry({"format": fmt, "path": "/data/x"})
    assert resolve_dataset("d", entry)["k"] == k == adapter_class(fmt).default_k
    assert resolve_dataset("d", {**entry, "k": 3})["k"] == 3


def test_schema_defaults_and_partial_split_override():
    settings = resolve_dataset("ham", validated_entry({"format": "ham10000",
                                                       "split": {"seed": 5}}))
    assert settings["protocols"] == ["paper"]
    assert settings["target"] == "ellipse"
    assert settings["on_bad_image"] == "fail"
    assert settings["split"] == {"train": 0.7, "val": 0.2, "test": 0.1, "seed": 5}
    assert settings["source"] == "archives" and settings["manifest"] == "ham10000"


def test_sources():
    assert resolve_dataset("a", {"format": "demo"})["source"] == "generated"
    assert resolve_dataset("b", {"format": "deeplesion"})["manifest"] == "deeplesion"
    assert resolve_dataset("c", {"format": "ham10000", "path": "/x"})["source"] == "path"
    assert resolve_dataset("d", {"format": "lits", "path": "/x"})["source"] == "path"


@pytest.mark.parametrize("fmt", ["lits", "folder"])
def test_path_is_required_where_nothing_is_downloaded(fmt):
    with pytest.raises(ConfigError, match=f"datasets.mine.path is required for format '{fmt}'"):
        resolve_dataset("mine", {"format": fmt})


def test_unknown_format_names_the_key():
    with pytest.raises(ConfigError, match=r"datasets\.x\.format = 'png'.*ham10000"):
        resolve_dataset("x", {"format": "png"})
    with pytest.raises(ConfigError, match="datasets is empty"):
        resolve_datasets({})


def test_preprocess_settings_drop_later_stage_keys():
    settings = resolve_dataset("d", validated_entry({"format": "lits", "path": "/x",
                                                     "window": [-100, 200], "k": 12,
                                                     "target": "grabcut"}))
    kept = preprocess_settings(settings, "paper")
    for key in ("k", "target", "split", "cluster_seed", "protocols"):
        assert key not in kept
    assert kept["window"] == [-100, 200]
    assert kept["format"] == "lits" and kept["path"] == "/x"
    assert kept["protocol"] == "paper" and kept["on_bad_image"] == "fail"
    # Changing k leaves what preprocessing sees untouched.
    other = resolve_dataset("d", validated_entry({"format": "lits", "path": "/x",
                                                  "window": [-100, 200], "k": 3}))
    assert preprocess_settings(other, "paper") == kept
    assert "demo" not in preprocess_settings(resolve_dataset("m", {"format": "demo",
                                                                   "demo": {"n_images": 5}}),
                                             "paper")


def test_adding_a_protocol_leaves_the_others_settings_as_they_were():
    entry = {"format": "lits", "path": "/x"}
    one = resolve_dataset("d", entry, protocols=["paper"])
    both = resolve_dataset("d", entry, protocols=["paper", "corrected"])
    assert both["protocols"] == ["paper", "corrected"]
    assert preprocess_settings(one, "paper") == preprocess_settings(both, "paper")
    assert preprocess_settings(both, "corrected") == {**preprocess_settings(both, "paper"),
                                                      "protocol": "corrected"}
    # Obtaining and listing the raw files see no protocol at all.
    assert source_settings(one) == source_settings(both)
    assert not {"protocol", "protocols"} & set(source_settings(both))
    with pytest.raises(ConfigError, match="'corrected' is not configured"):
        preprocess_settings(one, "corrected")


@pytest.mark.parametrize(("entry", "default", "expected"), [
    ({}, ["paper"], ["paper"]),
    ({}, ["corrected", "paper"], ["corrected", "paper"]),
    ({"protocol": "corrected"}, ["paper"], ["corrected"]),
    ({"protocols": ["paper", "corrected"]}, ["paper"], ["paper", "corrected"]),
])
def test_a_datasets_own_protocols_win_over_the_top_level_list(entry, default, expected):
    settings = resolve_dataset("d", {"format": "demo", **entry}, protocols=default)
    assert settings["protocols"] == expected
    assert "protocol" not in settings


@pytest.mark.parametrize(("entry", "message"), [
    ({"protocol": "paper", "protocols": ["paper"]}, "either protocol or protocols"),
    ({"protocols": []}, r"datasets\.d\.protocols = \[\]"),
    ({"protocols": ["paper", "paper"]}, "distinct protocols"),
    ({"protocol": "faithful"}, r"datasets\.d\.protocol = \['faithful'\]"),
])
def test_bad_protocols_name_the_key(entry, message):
    with pytest.raises(ConfigError, match=message):
        resolve_dataset("d", {"format": "demo", **entry})
