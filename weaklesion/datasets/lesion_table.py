"""``lesions.csv``, the table of a ``recist`` dataset: one row per lesion, its image and its
RECIST marks, and what ``python -m weaklesion recist-from-masks`` writes for lesions that
have masks.

Columns: ``id``, ``image`` (a path relative to the table's folder), the long axis's end
points ``x1,y1,x2,y2`` and the short axis's ``x3,y3,x4,y4`` in pixels of the image (x = column,
y = row, origin at the top-left pixel's centre, as DeepLesion's ``Measurement_coordinates``),
and, from masks, ``mask`` (the mask the marks were measured on, relative like ``image``).
Optional columns: ``group`` (e.g. the patient: a split keeps a group on one side), ``split``
(``train``/``val``/``test``), ``mask``, ``slice`` (of a volume, from 0), ``window_center``
and ``window_width`` (CT), ``spacing`` (mm per pixel). Other columns are kept out of the way:
a user's notes beside the marks are no error.

:func:`read_lesion_table` reads the table and refuses what concerns it as a whole (a missing
column, an id given twice); :func:`parse_lesion_row` checks one row, raising ValueError that
names the column, so that a dataset can skip a bad lesion and go on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from weaklesion.datasets.imaging import check_name_is_utf8, read_binary_mask
from weaklesion.ellipses.recist_marks import MARK_COLUMNS, EmptyMaskError, recist_from_mask
from weaklesion.errors import BadImageError, MissingFilesError
from weaklesion.utilities.atomic import atomic_path

MASK_SUFFIXES = (".png",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".nii", ".nii.gz")
"""The image kinds a ``recist`` dataset reads, matched to a mask by the file's stem."""
COORDINATE_DECIMALS = 3
TABLE_NAME = "lesions.csv"
REQUIRED_COLUMNS = ("id", "image", *MARK_COLUMNS)
OPTIONAL_COLUMNS = ("group", "split", "mask", "slice", "window_center", "window_width",
                    "spacing")
SPLITS = ("train", "val", "test")
CROSSING_TOLERANCE = 0.1
"""Hand-drawn axes often stop just short of each other: they count as crossing where their
lines meet within this share of each axis's length beyond its ends."""


@dataclass(frozen=True)
class LesionRow:
    """One lesion of ``lesions.csv``, checked: ``row`` is its line in the file (the header is
    line 1), ``marks`` the (4, 2) end points as (x, y), long axis first; optional fields None
    where the row leaves them empty."""

    row: int
    lesion_id: str
    image: str
    marks: tuple[tuple[float, float], ...]
    group: str | None = None
    split: str | None = None
    mask: str | None = None
    slice: int | None = None
    window_center: float | None = None
    window_width: float | None = None
    spacing: float | None = None

    @property
    def where(self) -> str:
        return f"{TABLE_NAME} row {self.row} (id {self.lesion_id!r})"


def read_lesion_table(path: str | os.PathLike) -> tuple[list[dict[str, str]], list[str]]:
    """The rows of ``lesions.csv`` as text by column, each with its line number under
    ``"row"``, and the problems of rows whose id repeats an earlier one (as "row N: ..."
    messages; those rows are left out). A missing file or column is a MissingFilesError."""
    path = Path(path)
    if not path.is_file():
        raise MissingFilesError(f"{path}: no such file (a recist dataset needs {TABLE_NAME})")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise MissingFilesError(f"{path}: not a readable CSV table ({error})") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise MissingFilesError(f"{path}: missing the columns {', '.join(missing)} "
                                f"(needs {', '.join(REQUIRED_COLUMNS)})")
    rows, repeats, first_row = [], [], {}
    for index, values in enumerate(table.to_dict("records")):
        row = index + 2
        lesion_id = values["id"].strip()
        if lesion_id in first_row:
            repeats.append(f"row {row}: id {lesion_id!r} repeats row {first_row[lesion_id]}")
            continue
        first_row[lesion_id] = row
        rows.append({**values, "row": str(row)})
    return rows, repeats


def parse_lesion_row(values: Mapping[str, str]) -> LesionRow:
    """One row of :func:`read_lesion_table`, checked: ValueError naming the column for a
    missing or non-numeric value, a zero-length axis, axes that do not cross, an unknown
    split, a slice, window or spacing out of range."""
    lesion_id = values["id"].strip()
    if not lesion_id:
        raise ValueError("column id is empty")
    image = values["image"].strip()
    if not image:
        raise ValueError("column image is empty")
    coordinates = [_number(values, column) for column in MARK_COLUMNS]
    points = [tuple(coordinates[i : i + 2]) for i in range(0, 8, 2)]
    _check_axes(points)
    split = _text(values, "split")
    if split is not None and split not in SPLITS:
        raise ValueError(f"column split is {split!r}, expected one of {', '.join(SPLITS)}")
    slice_number = _optional(values, "slice", _whole_number)
    if slice_number is not None and slice_number < 0:
        raise ValueError(f"column slice is {slice_number}, slices count from 0")
    for column in ("window_width", "spacing"):
        value = _optional(values, column, _number)
        if value is not None and value <= 0:
            raise ValueError(f"column {column} must be above 0, got {value:g}")
    window = [_optional(values, c, _number) for c in ("window_center", "window_width")]
    if (window[0] is None) != (window[1] is None):
        raise ValueError("columns window_center and window_width go together: give both "
                         "or neither")
    return LesionRow(
        row=int(values["row"]), lesion_id=lesion_id, image=image, marks=tuple(points),
        group=_text(values, "group"), split=split, mask=_text(values, "mask"),
        slice=slice_number, window_center=window[0], window_width=window[1],
        spacing=_optional(values, "spacing", _number),
    )


def _text(values: Mapping[str, str], column: str) -> str | None:
    text = (values.get(column) or "").strip()
    return text or None


def _optional(values: Mapping[str, str], column: str, parse):
    return parse(values, column) if _text(values, column) is not None else None


def _number(values: Mapping[str, str], column: str) -> float:
    text = (values.get(column) or "").strip()
    if not text:
        raise ValueError(f"column {column} is empty")
    try:
        # Python reads "1_0" as 10; in a CSV it is a typo.
        number = float(text) if "_" not in text else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"column {column} is not a finite number: {text!r}")
    return number


def _whole_number(values: Mapping[str, str], column: str) -> int:
    number = _number(values, column)
    if number != int(number):
        raise ValueError(f"column {column} is not a whole number: {values[column]!r}")
    return int(number)


def _check_axes(points: list[tuple[float, float]]) -> None:
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = points
    long_x, long_y, short_x, short_y = bx - ax, by - ay, dx - cx, dy - cy
    for name, columns, length in (("long", "x1,y1,x2,y2", math.hypot(long_x, long_y)),
                                  ("short", "x3,y3,x4,y4", math.hypot(short_x, short_y))):
        if length == 0:
            raise ValueError(f"columns {columns}: the {name} axis has zero length")
    denominator = long_x * short_y - long_y * short_x
    if denominator == 0:
        raise ValueError("columns x1..y4: the long and short axes are parallel")
    # Where the lines meet: a + s (b - a) = c + t (d - c).
    s = ((cx - ax) * short_y - (cy - ay) * short_x) / denominator
    t = ((cx - ax) * long_y - (cy - ay) * long_x) / denominator
    if not all(-CROSSING_TOLERANCE <= f <= 1 + CROSSING_TOLERANCE for f in (s, t)):
        raise ValueError(
            f"columns x1..y4: the short axis does not cross the long axis (their lines meet "
            f"at ({ax + s * long_x:.1f}, {ay + s * long_y:.1f}), outside the axes)")


def file_id(path: Path, suffixes: Sequence[str]) -> str | None:
    """The file's name without the first of ``suffixes`` it ends with (case-insensitive);
    None for another kind of file or a hidden one."""
    name = path.name
    if name.startswith("."):
        return None
    for suffix in suffixes:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return None


def files_by_id(folder: Path, suffixes: Sequence[str]) -> dict[str, Path]:
    """The files of ``folder`` with one of ``suffixes``, by id; two files of one id are an
    error naming both."""
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        lesion_id = file_id(path, suffixes) if path.is_file() else None
        if lesion_id is None:
            continue
        check_name_is_utf8(path)
        if lesion_id in files:
            raise BadImageError(str(path), f"another file has the id {lesion_id!r}: "
                                           f"{files[lesion_id]}")
        files[lesion_id] = path
    return files


def lesions_from_masks(masks_dir: str | os.PathLike, out_csv: str | os.PathLike,
                       images_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Measure every ``<id>.png`` mask of ``masks_dir`` (:func:`recist_from_mask`) and write
    ``lesions.csv`` rows for them: the image of the same id in ``images_dir`` (default: the
    ``images`` folder beside ``masks_dir``, as a ``folder`` dataset lays them out), the mask,
    and the marks. Every mask needs its image; an empty mask, an unreadable one or an image
    missing is an error naming the file, and nothing is written."""
    masks_dir, out_csv = Path(masks_dir), Path(out_csv)
    if not masks_dir.is_dir():
        raise MissingFilesError(f"{masks_dir}: no such folder of masks")
    images_dir = Path(images_dir) if images_dir is not None else masks_dir.parent / "images"
    if not images_dir.is_dir():
        raise MissingFilesError(f"{images_dir}: no such folder of images (pass --images)")
    masks = files_by_id(masks_dir, MASK_SUFFIXES)
    if not masks:
        raise MissingFilesError(f"{masks_dir}: no <id>.png masks in it")
    images = files_by_id(images_dir, IMAGE_SUFFIXES)
    missing = [lesion_id for lesion_id in masks if lesion_id not in images]
    if missing:
        raise MissingFilesError(
            f"{images_dir}: no image for the masks {', '.join(map(repr, missing[:5]))}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            + f" (looked for <id> with {', '.join(IMAGE_SUFFIXES)})")
    base = out_csv.resolve().parent
    rows = []
    for lesion_id, mask_path in tqdm(masks.items(), desc="measure", unit="mask"):
        try:
            marks = recist_from_mask(read_binary_mask(mask_path))
        except EmptyMaskError:
            raise BadImageError(str(mask_path), "mask is empty: no lesion to measure") from None
        rows.append({"id": lesion_id, "image": _relative(images[lesion_id], base),
                     "mask": _relative(mask_path, base), **marks._asdict()})
    table = pd.DataFrame(rows, columns=["id", "image", "mask", *MARK_COLUMNS])
    table[MARK_COLUMNS] = table[MARK_COLUMNS].round(COORDINATE_DECIMALS)
    with atomic_path(out_csv, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return table


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path.resolve(), base)).as_posix()
