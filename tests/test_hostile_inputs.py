"""Hostile and odd inputs end to end: malformed DL_info.csv rows, file names with spaces,
unicode and undecodable bytes, folder datasets whose images and masks do not pair up, and
odd masks, each through the adapters, ``preprocess`` and the ``evaluate`` command.

The rule for every input: the right result, or a clear WeaklesionError / an excluded.csv row
with a reason that names the file or the row — never another exception.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from fixtures_deeplesion import SIZE, write_deeplesion_fixture
from fixtures_folder import SIZE as FOLDER_SIZE
from fixtures_folder import write_folder_fixture
from fixtures_ham import ellipse_mask, write_mask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz_readers import ENCODINGS
from test_fuzz_recist import MaskCase, assert_right_ellipse

from weaklesion import PATCH_SIZE
from weaklesion.cli import main as cli_main
from weaklesion.datasets.deeplesion import DeepLesionAdapter
from weaklesion.datasets.folder import FolderAdapter
from weaklesion.datasets.patch_store import read_arrays, read_table
from weaklesion.datasets.preprocess import EXCLUDED_COLUMNS, preprocess, weak_label
from weaklesion.ellipses.fitting import Ellipse, FitError
from weaklesion.errors import BadImageError, MissingFilesError, WeaklesionError

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
# Each example runs preprocess end to end (about 0.1 s: data.h5 is written in full chunks).
FUZZ_END_TO_END = settings(FUZZ, max_examples=12)
FAIL = {"protocol": "corrected", "on_bad_image": "fail"}
SKIP = {"protocol": "corrected", "on_bad_image": "skip"}


def run_preprocess(fmt: str, root: Path, out: Path, settings_: dict) -> dict[str, int]:
    if out.exists():
        shutil.rmtree(out)
    return preprocess(fmt=fmt, root=root, settings=settings_, dataset="hostile",
                      data_h5=out / "data.h5", excluded_csv=out / "excluded.csv")


def excluded(out: Path) -> pd.DataFrame:
    table = pd.read_csv(out / "excluded.csv", dtype=str, keep_default_na=False)
    assert list(table.columns) == EXCLUDED_COLUMNS
    return table


# --- DL_info.csv rows ------------------------------------------------------------------------

MULTI_VALUE = {"Measurement_coordinates": 8, "Bounding_boxes": 4, "Spacing_mm_px_": 3,
               "DICOM_windows": 2}
WHOLE_NUMBERS = ("Patient_index", "Study_index", "Series_ID", "Key_slice_index",
                 "Coarse_lesion_type", "Possibly_noisy", "Train_Val_Test")

# Text without a digit can never be a finite number: float() refuses it or gives nan / inf.
# Control characters are left out only because a newline would move the row to other lines.
no_digits = st.text(st.characters(exclude_categories=("Nd", "Cs", "Cc")), max_size=8)
finite = st.floats(-1e6, 1e6).map(lambda v: f"{v:g}")


@dataclass(frozen=True)
class RowEdit:
    """A change to one row of DL_info.csv that makes it unusable, and where the message
    should point: the column's name (or, for a row of the wrong length, its field count)."""

    column: str
    value: str | None  # None: drop the field; the row is one field short
    blame: str

    def apply(self, header: list[str], fields: list[str]) -> list[str]:
        index = header.index(self.column)
        if self.value is None:
            return fields[:index] + fields[index + 1 :]
        return [*fields[:index], self.value, *fields[index + 1 :]]


def _join(values) -> str:
    return ", ".join(values)


@st.composite
def row_edits(draw) -> RowEdit:
    column = draw(st.sampled_from([*MULTI_VALUE, *WHOLE_NUMBERS, "File_name"]))
    if column == "File_name":
        return RowEdit(column, draw(no_digits) + ".png", column)
    if draw(st.integers(0, 9)) == 0:
        return RowEdit(column, None, "fields where the header has")
    if column in WHOLE_NUMBERS:
        value = draw(st.one_of(no_digits, st.floats(1.01, 9.99).map(lambda v: f"{v:.2f}")))
        if column == "Train_Val_Test" and draw(st.booleans()):
            value = str(draw(st.integers(-5, 50).filter(lambda v: v not in (1, 2, 3))))
        if column == "Key_slice_index" and draw(st.booleans()):
            value = str(draw(st.integers(0, 999).filter(lambda v: v != 5)))  # not the file's
        return RowEdit(column, value, column)
    count = MULTI_VALUE[column]
    kind = draw(st.sampled_from(["count", "text", "not finite", "out of range"]))
    values = draw(st.lists(finite, min_size=count, max_size=count))
    if kind == "count":
        other = draw(st.integers(0, 12).filter(lambda n: n != count))
        values = draw(st.lists(finite, min_size=other, max_size=other))
    elif kind == "text":
        values[draw(st.integers(0, count - 1))] = draw(no_digits)
    elif kind == "not finite":
        values[draw(st.integers(0, count - 1))] = draw(
            st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "-1e400"]))
    else:
        values = draw(_out_of_range(column))
    return RowEdit(column, _join(values), column)


@st.composite
def _out_of_range(draw, column: str) -> list[str]:
    """Well-formed numbers that still cannot be used: outside the 128×128 image, a box
    upside down, a spacing ≤ 0, a window with low ≥ high."""
    inside = st.floats(1, SIZE - 1)
    outside = st.one_of(st.floats(SIZE + 0.5, 1e9), st.floats(-1e9, -0.5))
    if column == "Spacing_mm_px_":
        spacing = [draw(st.floats(0.1, 5)) for _ in range(3)]
        spacing[draw(st.sampled_from([0, 2]))] = draw(st.floats(-10, 0))
        return [f"{v:g}" for v in spacing]
    if column == "DICOM_windows":
        low = draw(st.floats(-2000, 2000))
        return [f"{low:g}", f"{low - draw(st.floats(0, 1000)):g}"]
    count = MULTI_VALUE[column]
    values = [draw(inside) for _ in range(count)]
    if column == "Bounding_boxes" and draw(st.booleans()):
        values = [max(values[0], values[2]) + 1, values[1], min(values[0], values[2]), values[3]]
    else:
        values[draw(st.integers(0, count - 1))] = draw(outside)
    return [f"{v:.6g}" for v in values]


@pytest.fixture(scope="module")
def deeplesion(tmp_path_factory):
    root = write_deeplesion_fixture(tmp_path_factory.mktemp("deeplesion"), n_patients=1)
    original = (root / "DL_info.csv").read_text()
    yield root, original
    (root / "DL_info.csv").write_text(original)


def write_rows(root: Path, original: str, row: int, edit: RowEdit) -> None:
    header, *rows = list(csv.reader(io.StringIO(original)))
    rows[row] = edit.apply(header, rows[row])
    with open(root / "DL_info.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])


@FUZZ
@given(st.integers(0, 2), row_edits())
def test_a_malformed_dl_info_row_is_refused_naming_its_number(deeplesion, row, edit):
    root, original = deeplesion
    write_rows(root, original, row, edit)
    adapter = DeepLesionAdapter()
    items = adapter.list_items(root, FAIL)
    with pytest.raises(BadImageError) as raised:
        adapter.load(items[row], FAIL)
    message = str(raised.value)
    assert f"DL_info.csv row {row} (line {row + 2})" in message and edit.blame in message
    for other in set(range(3)) - {row}:
        assert len(adapter.load(items[other], FAIL).lesions) == 1


@FUZZ_END_TO_END
@given(st.integers(0, 2), row_edits())
def test_under_skip_a_malformed_row_is_listed_in_excluded_csv(deeplesion, tmp_path_factory,
                                                              row, edit):
    root, original = deeplesion
    write_rows(root, original, row, edit)
    out = tmp_path_factory.getbasetemp() / "dl_out"
    assert run_preprocess("deeplesion", root, out, SKIP) == {"kept": 2, "excluded": 1}
    (entry,) = excluded(out).itertuples()
    assert f"DL_info.csv row {row} (line {row + 2})" in entry.reason
    assert edit.blame in entry.reason


def test_under_fail_a_malformed_row_stops_preprocessing_naming_it(deeplesion, tmp_path):
    root, original = deeplesion
    write_rows(root, original, 1, RowEdit("Spacing_mm_px_", "0.8, 0.8, nan", "Spacing_mm_px_"))
    with pytest.raises(BadImageError) as raised:
        run_preprocess("deeplesion", root, tmp_path / "out", FAIL)
    message = str(raised.value)
    assert "DL_info.csv row 1 (line 3): Spacing_mm_px_" in message
    assert "on_bad_image: skip" in message
    assert not (tmp_path / "out" / "data.h5").exists()


@pytest.mark.parametrize(
    ("coordinates", "reason"),
    [
        ("40, 40, 50, 40, 45, 40, 45, 40", "zero length"),
        ("40, 40, 50, 40, 40, 45, 50, 45", "parallel"),
        # Nearly parallel: the lines cross about 50,000 px away, not on the lesion.
        ("40, 40, 50, 40, 40, 45, 50, 45.001", "beyond the long diameter"),
    ],
)
def test_a_measurement_that_is_not_a_cross_is_excluded_naming_the_row(
    deeplesion, tmp_path, coordinates, reason
):
    root, original = deeplesion
    write_rows(root, original, 1, RowEdit("Measurement_coordinates", coordinates, ""))
    for settings_ in (FAIL, SKIP):
        counts = run_preprocess("deeplesion", root, tmp_path / "out", settings_)
        assert counts == {"kept": 2, "excluded": 1}
        (entry,) = excluded(tmp_path / "out").itertuples()
        assert entry.lesion_id.endswith("_row-00001")
        assert entry.reason.startswith("ellipse fit failed") and reason in entry.reason


def load_row(root: Path, row: int):
    """DeepLesion's adapter applied to DL_info row ``row`` of ``root``, as preprocessing does."""
    adapter = DeepLesionAdapter()
    return adapter.load(adapter.list_items(root, FAIL)[row], FAIL)


@pytest.mark.parametrize("spacing", ["1e-300", "1e-9", "5e-324"])
def test_a_tiny_slice_interval_takes_the_nearest_slices_without_hanging(deeplesion, spacing):
    # 2 mm at 1e-300 mm per slice is 2e300 slices away: the search must not walk there.
    root, original = deeplesion
    write_rows(root, original, 0, RowEdit("Spacing_mm_px_", f"0.8, 0.8, {spacing}", ""))
    (lesion,) = load_row(root, 0).lesions
    # Every wanted slice is past the series' ends (1 … 9): the outermost ones stand in.
    assert lesion.meta["channel_slices"] == "1 5 9"


def load_row_patch(root: Path, row: int) -> np.ndarray:
    (lesion,) = load_row(root, row).lesions
    return lesion.image


def test_an_immensely_wide_window_maps_every_hu_to_mid_grey(deeplesion):
    root, original = deeplesion
    write_rows(root, original, 0, RowEdit("DICOM_windows", "-1e307, 1e307", ""))
    # HU in the hundreds sit at the window's middle: (HU + 1e307) / 2e307 * 255 = 127.5.
    np.testing.assert_array_equal(load_row_patch(root, 0), 128)


def test_an_immensely_narrow_window_is_a_threshold(deeplesion):
    root, original = deeplesion
    write_rows(root, original, 0, RowEdit("DICOM_windows", "0, 5e-324", ""))
    patch = load_row_patch(root, 0)
    write_rows(root, original, 0, RowEdit("DICOM_windows", "0, 0.001", ""))
    # Every fixture HU is a whole number: above 0 is white, 0 or below is black, as with a
    # window of a thousandth of a HU.
    np.testing.assert_array_equal(patch, load_row_patch(root, 0))
    assert set(np.unique(patch)) == {0, 255}


def test_a_window_wider_than_floating_point_is_refused_naming_the_row(deeplesion):
    root, original = deeplesion
    write_rows(root, original, 0, RowEdit("DICOM_windows", "-1e308, 1e308", ""))
    with pytest.raises(BadImageError, match=r"row 0 \(line 2\): DICOM_windows"):
        load_row(root, 0)


def test_a_dl_info_that_is_not_utf8_is_an_error_naming_the_file_and_line(deeplesion):
    root, original = deeplesion
    lines = original.splitlines(keepends=True)
    lines[2] = lines[2].replace(",F,", ",F\xe9,")  # Latin-1, from a spreadsheet
    (root / "DL_info.csv").write_bytes("".join(lines).encode("latin-1"))
    with pytest.raises(WeaklesionError, match=r"DL_info.csv.*line 3.*UTF-8"):
        DeepLesionAdapter().list_items(root, FAIL)


def test_a_dl_info_field_beyond_the_csv_limit_is_an_error_naming_the_line(deeplesion):
    root, original = deeplesion
    lines = original.splitlines(keepends=True)
    lines[3] = lines[3].replace(",F,", "," + "F" * 200_000 + ",")
    (root / "DL_info.csv").write_text("".join(lines))
    with pytest.raises(WeaklesionError, match=r"DL_info.csv.*line 4"):
        DeepLesionAdapter().list_items(root, FAIL)


def test_digits_with_underscores_are_not_numbers(deeplesion):
    # Python reads "1_0" as 10; in a CSV it is a typo.
    root, original = deeplesion
    write_rows(root, original, 2, RowEdit("Bounding_boxes", "1_0, 50, 30, 70", ""))
    with pytest.raises(BadImageError, match=r"row 2 \(line 4\): Bounding_boxes must hold"):
        load_row(root, 2)


# --- file names --------------------------------------------------------------------------------

# Any printable name a file system takes: spaces, accents, CJK, emoji, RTL marks, dots.
stems = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="/\\"),
    min_size=1, max_size=16,
).filter(lambda s: not s.startswith(".") and len(s.encode()) <= 200 and s.strip(". ") != "")


def write_case(root: Path, stem: str, suffix: str, seed: int) -> np.ndarray:
    """An image and its mask named ``stem``; returns the mask."""
    rng = np.random.default_rng(seed)
    mask = ellipse_mask(FOLDER_SIZE, (60 + rng.uniform(-5, 5), 45), (30, 20))
    image = np.where(mask[..., None], 60, 200).astype(np.uint8) + rng.integers(
        0, 20, (*FOLDER_SIZE, 3), dtype=np.uint8)
    (root / "images").mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(suffix, image)
    assert ok
    (root / "images" / f"{stem}{suffix}").write_bytes(encoded.tobytes())
    write_mask(root / "masks" / f"{stem}.png", mask)
    return mask


@FUZZ_END_TO_END
@given(st.lists(stems, min_size=1, max_size=3, unique=True), st.sampled_from([".png", ".jpg"]))
def test_folder_ids_keep_any_unicode_name(tmp_path_factory, names, suffix):
    root = tmp_path_factory.mktemp("unicode")
    for seed, stem in enumerate(names):
        write_case(root, stem, suffix, seed)
    assert [item.lesion_id for item in FolderAdapter().list_items(root, FAIL)] == sorted(names)
    out = root / "out"
    assert run_preprocess("folder", root, out, FAIL) == {"kept": len(names), "excluded": 0}
    table = read_table(out / "data.h5")
    assert list(table["lesion_id"]) == sorted(names)
    assert list(table["source"]) == [f"images/{n}{suffix}" for n in sorted(names)]


@FUZZ_END_TO_END
@given(st.lists(stems, min_size=1, max_size=3, unique=True))
def test_the_evaluate_command_scores_masks_with_any_unicode_name(tmp_path_factory, names):
    root = tmp_path_factory.mktemp("scores")
    gt_dir, pred_dir = root / "ground truth", root / "prédictions"
    for seed, stem in enumerate(names):
        write_case(gt_dir, stem, ".png", seed)
        write_case(pred_dir, stem, ".png", seed + 100)
    out = root / "scores.csv"
    code = cli_main(["evaluate", "--gt", str(gt_dir / "masks"), "--pred",
                     str(pred_dir / "masks"), "--out", str(out)])
    assert code == 0
    table = pd.read_csv(out, dtype={"id": str}, keep_default_na=False, encoding="utf-8")
    assert list(table["id"]) == sorted(names)


def _undecodable(directory: Path, name: bytes, content: bytes) -> None:
    """A file whose name is Latin-1 bytes, not UTF-8, as an old zip or Windows share makes."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(os.path.join(os.fsencode(directory), name), "wb") as handle:
        handle.write(content)


def test_a_folder_name_that_is_not_utf8_is_an_error_naming_it(tmp_path):
    write_folder_fixture(tmp_path / "ds", n_images=2)
    image = (tmp_path / "ds" / "images" / "case_00.png").read_bytes()
    mask = (tmp_path / "ds" / "masks" / "case_00.png").read_bytes()
    _undecodable(tmp_path / "ds" / "images", b"l\xe9sion 7.png", image)
    _undecodable(tmp_path / "ds" / "masks", b"l\xe9sion 7.png", mask)
    for settings_ in (FAIL, SKIP):
        with pytest.raises(BadImageError, match=r"l\\xe9sion 7.png.*not valid UTF-8") as raised:
            run_preprocess("folder", tmp_path / "ds", tmp_path / "out", settings_)
        str(raised.value).encode("utf-8")  # the message itself can be printed and logged


def test_the_evaluate_command_reports_a_name_that_is_not_utf8(tmp_path, capsys):
    for folder in ("gt", "pred"):
        write_case(tmp_path / folder, "ok", ".png", 0)
        _undecodable(tmp_path / folder / "masks", b"caf\xe9.png",
                     (tmp_path / folder / "masks" / "ok.png").read_bytes())
    code = cli_main(["evaluate", "--gt", str(tmp_path / "gt" / "masks"), "--pred",
                     str(tmp_path / "pred" / "masks"), "--out", str(tmp_path / "s.csv")])
    assert code == 2
    assert r"caf\xe9.png" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


# --- folder datasets whose images and masks do not pair up -------------------------------------


@FUZZ_END_TO_END
@given(st.lists(st.sampled_from(["both", "image", "mask"]), min_size=1, max_size=5))
def test_unpaired_images_and_masks_are_each_excluded_naming_the_missing_file(
    tmp_path_factory, sides
):
    root = tmp_path_factory.mktemp("unpaired")
    for index, side in enumerate(sides):
        write_case(root, f"id {index}", ".png", index)
        if side == "image":
            (root / "masks" / f"id {index}.png").unlink()
        elif side == "mask":
            (root / "images" / f"id {index}.png").unlink()
    paired = sides.count("both")
    out = root / "out"
    if set(sides) == {"mask"}:
        # No image is there at all: the dataset is refused up front.
        with pytest.raises(MissingFilesError, match="no .png/.jpg images"):
            run_preprocess("folder", root, out, SKIP)
        return
    if paired == 0:
        with pytest.raises(WeaklesionError, match="no lesion is left"):
            run_preprocess("folder", root, out, SKIP)
    else:
        counts = run_preprocess("folder", root, out, SKIP)
        assert counts == {"kept": paired, "excluded": len(sides) - paired}
        reasons = excluded(out).set_index("source")["reason"]
        for index, side in enumerate(sides):
            if side == "image":
                assert reasons[str(root / "images" / f"id {index}.png")] == (
                    f"no mask masks/id {index}.png")
            elif side == "mask":
                assert reasons[str(root / "masks" / f"id {index}.png")] == (
                    f"no image images/id {index}.png|jpg")
    if paired < len(sides):
        # fail checks them all, then names every one.
        with pytest.raises(WeaklesionError, match=r"on_bad_image: skip") as error:
            run_preprocess("folder", root, out, FAIL)
        for index, side in enumerate(sides):
            if side != "both":
                folder = "masks" if side == "mask" else "images"
                assert f"{root / folder / f'id {index}.png'}: no " in str(error.value)
        assert isinstance(error.value, BadImageError) == (len(sides) - paired == 1)


# --- odd masks end to end ----------------------------------------------------------------------

ODD_MASKS = ("empty", "full", "single pixel", "horizontal line", "vertical line",
             "diagonal line", "two discs", "disc at the border", "triangle", "speckle")


def odd_mask(kind: str, rng: np.random.Generator) -> np.ndarray:
    rows, cols = FOLDER_SIZE
    mask = np.zeros(FOLDER_SIZE, bool)
    if kind == "full":
        mask[:] = True
    elif kind == "single pixel":
        mask[rng.integers(rows), rng.integers(cols)] = True
    elif kind == "horizontal line":
        mask[rng.integers(rows), 10:110] = True
    elif kind == "vertical line":
        mask[5:85, rng.integers(cols)] = True
    elif kind == "diagonal line":
        np.fill_diagonal(mask[:, rng.integers(0, 30) :], True)
    elif kind == "two discs":
        mask = ellipse_mask(FOLDER_SIZE, (25, 45), (12, 12)) | ellipse_mask(
            FOLDER_SIZE, (95, 45), (rng.uniform(4, 15),) * 2)
    elif kind == "disc at the border":
        mask = ellipse_mask(FOLDER_SIZE, (rng.uniform(-10, 10), rng.uniform(0, rows)), (30, 25))
    elif kind == "triangle":
        corners = np.array([[rng.uniform(0, 120), rng.uniform(0, 90)] for _ in range(3)])
        canvas = np.zeros(FOLDER_SIZE, np.uint8)
        cv2.fillConvexPoly(canvas, np.round(corners).astype(np.int32), 1)
        mask = canvas.astype(bool)
    elif kind == "speckle":
        mask = rng.random(FOLDER_SIZE) < 0.05
    return mask


@pytest.fixture(scope="module")
def odd_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("odd")
    write_case(root, "odd", ".png", 0)
    return root


@FUZZ
@given(st.sampled_from(ODD_MASKS), st.sampled_from([e for e in ENCODINGS if not e.refused]),
       st.integers(0, 2**32 - 1))
def test_an_odd_mask_gives_a_right_ellipse_or_a_reason_to_exclude_it(
    odd_root, kind, encoding, seed
):
    # What preprocess's worker does with each item: load it, then fit its weak label.
    mask = odd_mask(kind, np.random.default_rng(seed))
    (odd_root / "masks" / "odd.png").write_bytes(encoding.encode(mask))
    adapter = FolderAdapter()
    (item,) = adapter.list_items(odd_root, SKIP)
    try:
        (lesion,) = adapter.load(item, SKIP).lesions
        kept = weak_label(lesion, adapter.min_ellipse_iou)
    except BadImageError as error:
        assert error.source == str(odd_root / "masks" / "odd.png")
        assert error.reason == "mask is empty"
        return
    except FitError as error:
        assert str(error)
        return
    assert kind not in NEVER_AN_ELLIPSE, "a full or line mask must not give an ellipse"
    assert_right_ellipse(Ellipse(*map(float, kept.ellipse)), MaskCase(kind, lesion.mask))


NEVER_AN_ELLIPSE = ("empty", "full", "single pixel", "horizontal line", "vertical line",
                    "diagonal line")


def test_odd_masks_are_kept_or_listed_in_excluded_csv_with_their_reason(tmp_path):
    root = tmp_path / "ds"
    write_folder_fixture(root, n_images=1)  # case_00: an ordinary lesion
    rng = np.random.default_rng(0)
    for kind in ODD_MASKS:
        write_case(root, kind, ".png", 0)
        write_mask(root / "masks" / f"{kind}.png", odd_mask(kind, rng))
    counts = run_preprocess("folder", root, tmp_path / "out", SKIP)
    kept = read_table(tmp_path / "out" / "data.h5")
    reasons = excluded(tmp_path / "out").set_index("lesion_id")["reason"]
    assert counts == {"kept": len(kept), "excluded": len(reasons)}
    assert "case_00" in set(kept["lesion_id"])
    for kind in NEVER_AN_ELLIPSE:
        assert kind not in set(kept["lesion_id"])
    for kind in ("full", "horizontal line", "vertical line", "diagonal line"):
        assert reasons[kind].startswith("ellipse fit failed: "), reasons[kind]
    # A mask left empty by resizing is a bad item: listed by its file, without a lesion id.
    by_source = excluded(tmp_path / "out").set_index("source")["reason"]
    assert by_source[str(root / "masks" / "empty.png")] == "mask is empty"
    # Every case is accounted for, kept or excluded, exactly once.
    listed = [*kept["lesion_id"], *reasons.index]
    listed = [name or Path(source).stem for name, source in zip(
        listed, [""] * len(kept) + list(excluded(tmp_path / "out")["source"]), strict=True)]
    assert sorted(listed) == sorted(["case_00", *ODD_MASKS])
    masks = read_arrays(tmp_path / "out" / "data.h5", ["mask"])["mask"]
    for index, row in enumerate(kept.itertuples()):
        ellipse = Ellipse(row.cx, row.cy, row.width, row.height, row.angle)
        assert_right_ellipse(ellipse, MaskCase(row.lesion_id, masks[index]))


def test_the_stored_patch_of_an_odd_mask_is_the_resized_mask(tmp_path):
    # The "right ellipse" checks above run on the stored 120×120 mask: it must be the mask.
    write_folder_fixture(tmp_path / "ds", n_images=1)
    mask = ellipse_mask(FOLDER_SIZE, (0, 45), (30, 25))
    write_case(tmp_path / "ds", "odd", ".png", 0)
    write_mask(tmp_path / "ds" / "masks" / "odd.png", mask)
    run_preprocess("folder", tmp_path / "ds", tmp_path / "out", FAIL)
    stored = read_arrays(tmp_path / "out" / "data.h5", ["mask"])["mask"]
    expected = cv2.resize(mask.astype(np.float32), (PATCH_SIZE, PATCH_SIZE),
                          interpolation=cv2.INTER_AREA) >= 0.5
    np.testing.assert_array_equal(stored[1], expected)
