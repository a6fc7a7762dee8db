"""NIH DeepLesion (``format: deeplesion``): one lesion per row of ``DL_info.csv``.

Input: ``DL_info.csv`` at the top of the dataset's tree (or one folder down) and the 56 zips
``Images_png_01..56.zip``, read in place (:mod:`weaklesion.raw.sources`; only the slices the rows
need are read) or extracted beside it, giving
``Images_png/<patient>_<study>_<series>/<slice:03d>.png`` — 16-bit PNGs, HU = value − 32768.
One work item is one data row; *row numbers are 0-based positions of data rows* (neither the
header nor blank lines count; row ``r`` is usually on line ``r + 2``, and messages give both).
Coordinates in ``DL_info.csv`` are 1-based pixels (as in the dataset authors' own loader);
patches use 0-based ones.

The patch is 120×120 around the centre of the row's ``Bounding_boxes`` (fixed context of
±60 px; rows/columns beyond the image repeat its edge), windowed with the row's
``DICOM_windows`` to 0..255. Its three channels are the slices ``slice_interval_mm`` (2 mm)
before, at and after the key slice, as the paper's preprocessing (taken from the DeepLesion
authors' LesaNet code) chose them: with ``z`` the row's slice interval (third value of
``Spacing_mm_px_``) and ``s = slice_interval_mm / z``, a whole ``s`` takes the slices ``s``
away; otherwise the two slices ``floor(s)`` and ``ceil(s)`` away are blended linearly (weight
``s - floor(s)`` on the farther one). A wanted slice that has no PNG is replaced by the nearest
existing one on the way back to the key slice (the zips hold only slices near each key slice).
Channel order is (previous, key, next).

The weak label is the RECIST measurement (``Measurement_coordinates``: long axis x1, y1, x2,
y2, then short axis x1, y1, x2, y2), returned in patch coordinates as ``recist`` (4, 2).

Settings:

``protocol`` (``paper`` | ``corrected``)
    ``paper`` excludes the 8 rows the paper left out (rows 24897, 3136, 5780, 9239, 14485,
    29866, 14474, 6768) with the reason "excluded by the paper", and shifts RECIST points the
    way the released code did: when a lesion box reaches past the patch's left or top edge
    (boxes wider than the 120 px patch), it moved the points as if the box started at the
    edge. Its weak label is the released one (:func:`released_weak_label`), and windowed
    values are truncated rather than rounded, so that 255 marks exactly the saturated pixels
    the released GrabCut saw. ``corrected`` keeps those rows and shifts every point by the
    crop origin.
``slice_interval_mm`` (default ``2.0``)
    Distance between the channel slices.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, NamedTuple

import cv2
import numpy as np

from weaklesion import PATCH_SIZE
from weaklesion.datasets.base import Adapter, Exclusion, ItemResult, Lesion, WeakLabel
from weaklesion.datasets.imaging import file_bytes
from weaklesion.datasets.windowing import as_window, window_to_uint8
from weaklesion.ellipses.fitting import FitError, released_recist_features
from weaklesion.errors import BadImageError, ConfigError, MissingFilesError, WeaklesionError
from weaklesion.protocols import PAPER, PROTOCOLS
from weaklesion.raw.sources import SourceFile, SourceSpec, SourceTree, ZipEntry

DL_INFO = "DL_info.csv"
IMAGES_DIR = "Images_png"
OFFICIAL_COLUMNS = (
    "File_name", "Patient_index", "Study_index", "Series_ID", "Key_slice_index",
    "Measurement_coordinates", "Bounding_boxes", "Lesion_diameters_Pixel_",
    "Normalized_lesion_location", "Coarse_lesion_type", "Possibly_noisy", "Slice_range",
    "Spacing_mm_px_", "Image_size", "DICOM_windows", "Patient_gender", "Patient_age",
    "Train_Val_Test",
)  # fmt: skip
USED_COLUMNS = (
    "File_name", "Patient_index", "Study_index", "Series_ID", "Key_slice_index",
    "Measurement_coordinates", "Bounding_boxes", "Coarse_lesion_type", "Possibly_noisy",
    "Spacing_mm_px_", "DICOM_windows", "Train_Val_Test",
)  # fmt: skip
PAPER_EXCLUDED_ROWS = frozenset({24897, 3136, 5780, 9239, 14485, 29866, 14474, 6768})
PAPER_EXCLUSION_REASON = "excluded by the paper"
HU_OFFSET = 32768
CONTEXT_PX = PATCH_SIZE // 2
DEFAULT_SLICE_INTERVAL_MM = 2.0
OFFICIAL_SPLITS = {1: "train", 2: "val", 3: "test"}

_FILE_NAME = re.compile(r"^(\d+_\d+_\d+)_(\d+)\.png$")


@dataclass(frozen=True)
class SeriesFiles:
    """The slice files of one series folder, small enough to travel with each of its rows:
    slice ``s`` is the file ``names[s]`` (with its zip entry) in tree folder ``tree_dir``, member
    ``member_dir + name`` of ``archive`` (or the path ``member_dir + name`` where ``archive``
    is None), unless ``others`` lists it (a series whose files do not share one place)."""

    tree_dir: str
    archive: str | None
    member_dir: str
    names: tuple[tuple[int, str, ZipEntry | None], ...]
    others: tuple[tuple[int, SourceFile], ...] = ()

    @classmethod
    def of(cls, tree_dir: str, files: list[SourceFile]) -> SeriesFiles:
        slices = [(int(f.name[:-4]), f) for f in files if f.name[:-4].isdigit()]
        first = slices[0][1] if slices else None
        archive = first.archive if first else None
        member_dir = first.member[: len(first.member) - len(first.name)] if first else ""
        names, others = [], []
        for number, file in slices:
            if file.archive == archive and file.member == member_dir + file.name:
                names.append((number, file.name, file.zip_entry))
            else:
                others.append((number, file))
        return cls(tree_dir, archive, member_dir, tuple(names), tuple(others))

    def __str__(self) -> str:
        """Where the series' slices are: ``archive:folder/`` or the folder's path."""
        where = f"{self.archive}:{self.member_dir}" if self.archive else self.member_dir
        return where or self.tree_dir

    @property
    def slices(self) -> set[int]:
        return {n for n, _, _ in self.names} | {n for n, _ in self.others}

    def file(self, number: int) -> SourceFile | None:
        for n, name, entry in self.names:
            if n == number:
                return SourceFile(f"{self.tree_dir}/{name}", self.archive,
                                  self.member_dir + name, entry)
        return dict(self.others).get(number)


@dataclass(frozen=True)
class DeepLesionItem:
    """One data row: its 0-based position, its series' slice files, and its raw values."""

    row: int
    line: int  # line of the file the row ends on, for messages
    csv_name: str
    images_dir: str  # tree path of Images_png
    record: tuple[tuple[str, str | None], ...]  # (column, raw text) for USED_COLUMNS
    problem: str = ""  # set when the row's field count does not match the header
    series: SeriesFiles | None = None
    key_file: SourceFile | None = None  # the key slice's file, where the series has it


class RowFields(NamedTuple):
    series: str
    key_slice: int
    patient: int
    study: int
    series_id: int
    recist: np.ndarray  # (4, 2) 1-based image pixels, as written
    box: tuple[float, float, float, float]  # x1, y1, x2, y2, 1-based
    slice_interval: float
    pixel_spacing: float
    window: tuple[float, float]
    split: str
    lesion_type: int
    noisy: int


# --- pure geometry ---------------------------------------------------------------------------


def neighbour_channels(
    key: int, slice_interval: float, wanted_mm: float, existing: Collection[int]
) -> list[dict[int, float]]:
    """Blend weights ``{slice: weight}`` of the (previous, key, next) channels; see module doc."""
    # Beyond the farthest slice every wanted one falls back to it, so a tiny interval (an
    # overflowing ratio) need not be walked: stop one slice past it.
    farthest = max(abs(s - key) for s in {key, *existing})
    steps = min(wanted_mm / slice_interval, farthest + 1)
    near = math.floor(steps)
    far_weight = steps - near
    channels: list[dict[int, float]] = []
    for sign in (-1, 1):
        weights: dict[int, float] = {}
        for distance, weight in ((near, 1.0 - far_weight), (near + 1, far_weight)):
            if weight > 0:
                found = _existing_toward_key(key, key + sign * distance, existing)
                weights[found] = weights.get(found, 0.0) + weight
        channels.append(weights)
    return [channels[0], {key: 1.0}, channels[1]]


def _existing_toward_key(key: int, wanted: int, existing: Collection[int]) -> int:
    step = 1 if wanted < key else -1
    while wanted != key and wanted not in existing:
        wanted += step
    return wanted


def crop_origin(box: tuple[float, float, float, float]) -> tuple[int, int]:
    """Image pixel (x, y), 0-based, at the patch's top-left corner for a 1-based box."""
    x1, y1, x2, y2 = (value - 1 for value in box)
    # round() is half-to-even, as numpy rounded the box centre in the released code.
    return round((x1 + x2) / 2) - CONTEXT_PX, round((y1 + y2) / 2) - CONTEXT_PX


def recist_in_patch(
    recist: np.ndarray,
    box: tuple[float, float, float, float],
    origin: tuple[int, int],
    protocol: str,
) -> np.ndarray:
    """RECIST endpoints (4, 2), 1-based image pixels → 0-based patch pixels, float32."""
    shifted = np.asarray(recist, dtype=np.float64) - 1 - np.asarray(origin)
    if protocol == PAPER:
        # The released code shifted by the box corner clamped into the patch, which moves
        # boxes that start left of / above the patch (lesions wider than it) away from 0.
        box_corner = np.asarray(box[:2]) - 1 - np.asarray(origin)
        shifted += np.maximum(0.0, -box_corner)
    return shifted.astype(np.float32)


def replicate_crop(image: np.ndarray, x0: int, y0: int, size: int = PATCH_SIZE) -> np.ndarray:
    """``size``×``size`` window at (x0, y0); pixels beyond the image repeat its edge."""
    rows = np.clip(np.arange(y0, y0 + size), 0, image.shape[0] - 1)
    cols = np.clip(np.arange(x0, x0 + size), 0, image.shape[1] - 1)
    return image[np.ix_(rows, cols)]


# --- the adapter -----------------------------------------------------------------------------


class DeepLesionAdapter(Adapter):
    has_masks = False
    released_code = "deeplesion"
    default_k = 190
    published_as = "deeplesion"
    manifest = "deeplesion"
    release_lesions = 32_735
    official_split = True

    def list_items(self, source: SourceSpec, settings: Mapping[str, Any]) -> list[DeepLesionItem]:
        tree = SourceTree.open(source)
        # Check the settings here too, so a typo fails before any work is spread out (listing
        # is the same for every protocol).
        _slice_interval_mm(settings)
        csv_file = _find_dl_info(tree)
        images_dir = _find_images_dir(tree, csv_file)
        header, rows = _read_dl_info(csv_file)
        column = {name: index for index, name in enumerate(header)}
        series_files: dict[str, SeriesFiles] = {}
        items = []
        for row, (line, values) in enumerate(rows):
            problem = ""
            if len(values) != len(header):
                problem = (
                    f"has {len(values)} fields where the header has {len(header)} "
                    f"(is a multi-value field missing its quotes?)"
                )
            record = tuple(
                (name, values[column[name]] if column[name] < len(values) else None)
                for name in USED_COLUMNS
            )
            series, key_file = _series_of(record, tree, images_dir, series_files)
            items.append(DeepLesionItem(row, line, csv_file.name, images_dir, record, problem,
                                        series, key_file))
        _check_series_present(items, tree, images_dir)
        return items

    def item_id(self, item: DeepLesionItem) -> str:
        return _lesion_id(dict(item.record), item.row)

    def load(self, item: DeepLesionItem, settings: Mapping[str, Any]) -> ItemResult:
        protocol = _protocol(settings)
        wanted_mm = _slice_interval_mm(settings)
        values = dict(item.record)
        source = _source(values.get("File_name"), item)
        where = f"{item.csv_name} row {item.row} (line {item.line})"
        lesion_id = _lesion_id(values, item.row)
        if protocol == PAPER and item.row in PAPER_EXCLUDED_ROWS:
            return ItemResult([], [Exclusion(source, PAPER_EXCLUSION_REASON, lesion_id)])
        if item.problem:
            raise BadImageError(source, f"{where} {item.problem}")
        try:
            fields = _parse_row(values)
        except ValueError as error:
            raise BadImageError(source, f"{where}: {error}") from None

        series = item.series or SeriesFiles(f"{item.images_dir}/{fields.series}", None, "", ())
        key_image = _read_slice(series, fields.key_slice, source, where)
        _check_inside(fields, key_image.shape, source, where)
        origin = crop_origin(fields.box)
        channels = neighbour_channels(
            fields.key_slice, fields.slice_interval, wanted_mm, series.slices
        )
        crops = {fields.key_slice: replicate_crop(key_image, *origin)}
        for slice_index in sorted({s for channel in channels for s in channel} - crops.keys()):
            image = _read_slice(series, slice_index, source, where)
            if image.shape != key_image.shape:
                raise BadImageError(
                    source,
                    f"{where}: neighbour slice {series.file(slice_index)} is "
                    f"{image.shape[1]}×{image.shape[0]}, the key slice "
                    f"{key_image.shape[1]}×{key_image.shape[0]}",
                )
            crops[slice_index] = replicate_crop(image, *origin)
        hu = [
            sum(weight * (crops[s].astype(np.float32) - HU_OFFSET) for s, weight in ch.items())
            for ch in channels
        ]
        patch = window_to_uint8(np.stack(hu, axis=-1), fields.window,
                                truncate=protocol == PAPER)

        lesion = Lesion(
            lesion_id=lesion_id,
            group_id=f"patient-{fields.patient:06d}",
            source=source,
            image=patch,
            recist=recist_in_patch(fields.recist, fields.box, origin, protocol),
            meta=_meta(item.row, fields, origin, channels),
        )
        if protocol == PAPER:
            try:
                lesion.weak_label = released_weak_label(lesion.recist)
            except FitError as error:
                reason = f"{where}: RECIST gives no ellipse: {error}"
                return ItemResult([], [Exclusion(source, reason, lesion_id)])
        return ItemResult([lesion], [])


def released_weak_label(recist: np.ndarray) -> WeakLabel:
    """The released weak label of a RECIST measurement: its ellipse features, angle unfolded
    (PROTOCOL item 3), are both what k-means clusters and what the target is drawn from, on
    the 120×120 patch."""
    ellipse = released_recist_features(recist).as_array()
    return WeakLabel(ellipse, ellipse, (PATCH_SIZE, PATCH_SIZE), float("nan"))


def _meta(
    row: int, fields: RowFields, origin: tuple[int, int], channels: list[dict[int, float]]
) -> dict[str, Any]:
    # Effective slice position of each channel, e.g. "107.8 109 110.2", for inspection.
    positions = " ".join(f"{sum(s * w for s, w in ch.items()):g}" for ch in channels)
    return {
        "row": row,
        "patient": fields.patient,
        "study": fields.study,
        "series": fields.series_id,
        "key_slice": fields.key_slice,
        "official_split": fields.split,
        "coarse_lesion_type": fields.lesion_type,
        "possibly_noisy": fields.noisy,
        "pixel_spacing_mm": fields.pixel_spacing,
        "slice_interval_mm": fields.slice_interval,
        "window_low": fields.window[0],
        "window_high": fields.window[1],
        "channel_slices": positions,
        "crop_x0": origin[0],
        "crop_y0": origin[1],
    }


# --- parsing one row -------------------------------------------------------------------------


def _source(file_name: str | None, item: DeepLesionItem) -> str:
    match = _FILE_NAME.match(file_name or "")
    if not match:
        return f"{item.csv_name} row {item.row}"
    relative = PurePosixPath(item.images_dir).name
    return f"{relative}/{match.group(1)}/{int(match.group(2)):03d}.png"


def _lesion_id(values: Mapping[str, str | None], row: int) -> str:
    return f"{PurePosixPath(values.get('File_name') or 'unnamed').stem}_row-{row:05d}"


def _series_of(record, tree: SourceTree, images_dir: str, cache: dict[str, SeriesFiles]
               ) -> tuple[SeriesFiles | None, SourceFile | None]:
    """The slice files of a row's series and its key slice's file (None, None when its
    File_name names none)."""
    match = _FILE_NAME.match(dict(record)["File_name"] or "")
    if not match:
        return None, None
    folder = f"{images_dir}/{match.group(1)}"
    if folder not in cache:
        cache[folder] = SeriesFiles.of(folder, tree.in_folder(folder))
    return cache[folder], cache[folder].file(int(match.group(2)))


def _parse_row(values: Mapping[str, str | None]) -> RowFields:
    """Typed fields of one row; ValueError naming the column for anything unusable."""
    file_name = values["File_name"] or ""
    match = _FILE_NAME.match(file_name)
    if not match:
        raise ValueError(f"File_name {file_name!r} is not <patient>_<study>_<series>_<slice>.png")
    key_slice = int(match.group(2))
    if _integer(values, "Key_slice_index") != key_slice:
        raise ValueError(
            f"Key_slice_index {values['Key_slice_index']!r} disagrees with File_name {file_name!r}"
        )
    spacing = _numbers(values, "Spacing_mm_px_", 3)
    if spacing[2] <= 0 or spacing[0] <= 0:
        raise ValueError(f"Spacing_mm_px_ {values['Spacing_mm_px_']!r} has a spacing ≤ 0")
    x1, y1, x2, y2 = box = _numbers(values, "Bounding_boxes", 4)
    if x1 > x2 or y1 > y2:
        raise ValueError(f"Bounding_boxes {values['Bounding_boxes']!r} is not x1, y1, x2, y2")
    split = _integer(values, "Train_Val_Test")
    if split not in OFFICIAL_SPLITS:
        raise ValueError(f"Train_Val_Test is {split}, expected 1 (train), 2 (val) or 3 (test)")
    try:
        window = as_window(_numbers(values, "DICOM_windows", 2))
    except ValueError as error:
        raise ValueError(f"DICOM_windows: {error}") from None
    return RowFields(
        series=match.group(1),
        key_slice=key_slice,
        patient=_integer(values, "Patient_index"),
        study=_integer(values, "Study_index"),
        series_id=_integer(values, "Series_ID"),
        recist=np.array(_numbers(values, "Measurement_coordinates", 8)).reshape(4, 2),
        box=box,
        slice_interval=spacing[2],
        pixel_spacing=spacing[0],
        window=window,
        split=OFFICIAL_SPLITS[split],
        lesion_type=_integer(values, "Coarse_lesion_type"),
        noisy=_integer(values, "Possibly_noisy"),
    )


def _numbers(values: Mapping[str, str | None], column: str, count: int) -> tuple[float, ...]:
    text = values[column] or ""
    try:
        # Python reads "1_0" as 10; in a CSV it is a typo.
        numbers = () if "_" in text else tuple(float(part) for part in text.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != count or not all(math.isfinite(n) for n in numbers):
        raise ValueError(f"{column} must hold {count} finite numbers, got {text!r}")
    return numbers


def _integer(values: Mapping[str, str | None], column: str) -> int:
    text = (values[column] or "").strip()
    if "_" not in text:  # as for _numbers
        with contextlib.suppress(ValueError):
            return int(text)
    raise ValueError(f"{column} must be a whole number, got {text!r}")


def _check_inside(fields: RowFields, shape: tuple[int, ...], source: str, where: str) -> None:
    height, width = shape
    x1, y1, x2, y2 = fields.box
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        raise BadImageError(
            source, f"{where}: Bounding_boxes {fields.box} lies outside the {width}×{height} image"
        )
    xs, ys = fields.recist[:, 0], fields.recist[:, 1]
    if xs.min() < 0 or ys.min() < 0 or xs.max() > width or ys.max() > height:
        raise BadImageError(
            source,
            f"{where}: Measurement_coordinates {fields.recist.ravel().tolist()} lie outside "
            f"the {width}×{height} image",
        )


# --- files -----------------------------------------------------------------------------------


def _read_slice(series: SeriesFiles, number: int, source: str, where: str) -> np.ndarray:
    """Slice ``number`` of a series as uint16; BadImageError unless it is a readable 16-bit
    grey PNG."""
    path = series.file(number)
    if path is None:
        raise BadImageError(source, f"{where}: slice {series.tree_dir}/{number:03d}.png does "
                            "not exist")
    data = np.frombuffer(file_bytes(path), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise BadImageError(source, f"{where}: cannot decode {path} (truncated or not a PNG?)")
    if image.dtype != np.uint16 or image.ndim != 2:
        channels = 1 if image.ndim == 2 else image.shape[2]
        raise BadImageError(
            source,
            f"{where}: {path} is {image.dtype} with {channels} channel(s); DeepLesion slices "
            f"are 16-bit single-channel PNGs (HU + 32768)",
        )
    return image


def _find_dl_info(tree: SourceTree) -> SourceFile:
    top = tree.get(DL_INFO)
    if top is not None:
        return top
    below = tree.matching(lambda p: PurePosixPath(p).name == DL_INFO
                          and len(PurePosixPath(p).parts) == 2)
    if len(below) == 1:
        return below[0]
    if len(below) > 1:
        raise WeaklesionError(
            f"Several {DL_INFO} files in {tree}: {', '.join(map(str, below))}; keep one, "
            f"or place the one to use at the top."
        )
    raise MissingFilesError(
        f"{DL_INFO} not found in {tree} (nor one folder down). Download it from the "
        f"NIH DeepLesion site (it sits beside the Images_png_*.zip files) and place it at "
        f"{tree.root / DL_INFO if tree.root else 'resources/<dataset>/archives/' + DL_INFO}."
    )


def _find_images_dir(tree: SourceTree, csv_file: SourceFile) -> str:
    folders = tree.folders()
    parent = PurePosixPath(csv_file.tree_path).parent
    candidates = [IMAGES_DIR, str(parent / IMAGES_DIR)]
    candidates += sorted(f for f in folders if PurePosixPath(f).name == IMAGES_DIR
                         and len(PurePosixPath(f).parts) == 2)
    for candidate in candidates:
        if candidate in folders:
            return candidate
    raise MissingFilesError(
        f"DeepLesion images not found in {tree}: it needs Images_png_01.zip … "
        f"Images_png_56.zip (or their contents, {IMAGES_DIR}/<patient>_<study>_<series>/"
        f"<slice>.png)."
    )


def _read_dl_info(csv_path: SourceFile) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the data rows with their line numbers; blank lines are skipped."""
    data = file_bytes(csv_path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = error.object.count(b"\n", 0, error.start) + 1
        raise WeaklesionError(
            f"{csv_path} line {line} is not UTF-8 text (byte {error.object[error.start]:#04x}); "
            f"save the file as UTF-8"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        lines = [(reader.line_num, row) for row in reader if any(f.strip() for f in row)]
    except csv.Error as error:
        raise WeaklesionError(f"{csv_path} line {reader.line_num}: {error}") from None
    if not lines:
        raise WeaklesionError(
            f"{csv_path} is empty; expected the DeepLesion header {', '.join(OFFICIAL_COLUMNS)}"
        )
    header = [name.strip() for name in lines[0][1]]
    missing = [name for name in USED_COLUMNS if name not in header]
    if missing:
        raise WeaklesionError(
            f"{csv_path} is not a DeepLesion DL_info.csv: its header lacks the column(s) "
            f"{', '.join(missing)} (found: {', '.join(header)})"
        )
    return header, lines[1:]


def _check_series_present(items: list[DeepLesionItem], tree: SourceTree, images_dir: str) -> None:
    """Fail early when whole series folders are missing: usually a zip not yet extracted."""
    present = {PurePosixPath(f).name for f in tree.folders()
               if str(PurePosixPath(f).parent) == images_dir}
    wanted = {}
    for item in items:
        match = _FILE_NAME.match(dict(item.record)["File_name"] or "")
        if match:
            wanted.setdefault(match.group(1), item.row)
    absent = sorted(series for series in wanted if series not in present)
    if absent:
        shown = ", ".join(f"{s} (row {wanted[s]})" for s in absent[:10])
        more = f" and {len(absent) - 10} more" if len(absent) > 10 else ""
        raise MissingFilesError(
            f"{len(absent)} series folder(s) named in {DL_INFO} are missing from {images_dir} "
            f"in {tree}: {shown}{more}. All 56 Images_png_NN.zip archives are needed."
        )


# --- settings --------------------------------------------------------------------------------


def _protocol(settings: Mapping[str, Any]) -> str:
    protocol = settings["protocol"]
    if protocol not in PROTOCOLS:
        raise ConfigError(f"setting 'protocol' must be one of {PROTOCOLS}, got {protocol!r}")
    return protocol


def _slice_interval_mm(settings: Mapping[str, Any]) -> float:
    value = settings.get("slice_interval_mm", DEFAULT_SLICE_INTERVAL_MM)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(
            f"DeepLesion setting 'slice_interval_mm' must be a number > 0, got {value!r}"
        )
    return float(value)
