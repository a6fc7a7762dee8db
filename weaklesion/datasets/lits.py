"""LiTS (``format: lits``): one lesion per connected tumour component on one axial slice.

Input: ``volume-N.nii`` CT volumes (HU) and ``segmentation-N.nii`` masks (0 background,
1 liver, 2 tumour), ``.nii`` or ``.nii.gz``, anywhere under the dataset root (the Kaggle
mirror's ``volume_pt1/`` … ``volume_pt5/`` and ``segmentations/`` folders work as they are).
One work item is one volume with its segmentation.

Per slice holding tumour, each 8-connected tumour component becomes one lesion: its bounding
box grown by 10 px, then by 8 px (clipped to the image), the longer side of that gives a square
centred on the box, cut out (clipped, not padded, at the image border), and resized to 120×120
(image bilinear, mask nearest). Components under ``min_component_px`` are excluded with a reason;
the caller drops ellipse fits with IoU < 0.4. Under ``protocol: paper`` the released procedure
replaces both rules (:func:`released_area_rule`, :func:`released_weak_label`): small components
stay, the ellipse is fitted on the crop and drawn there, soft, and the IoU is the released one.
Patches keep the NIfTI array orientation (rows = first axis), as the released code did.
Headers are not compared: some segmentations carry an identity affine while their volume
does not, so only array shapes must agree.

Order (the paper's LiTS split is index lists into it): the released code sorted its patch files
``volume-{N}_{slice}_{component}.png`` as strings, so this adapter does too — ``volume-10_…``
comes before ``volume-1_…`` and slice ``100`` before slice ``11``. Components are numbered in
raster order (first pixel row by row), as scikit-image labels them.

Settings (besides ``protocol`` and ``on_bad_image``, which do not change anything here):

``window`` (default ``[0, 255]``)
    HU window mapped to 0..255; the slice fills all three channels. The paper is silent; the
    released code wrote the raw HU slices as 8-bit PNGs, which saturates them to exactly this
    window — a workable contrast-enhanced liver window, so it is kept as the default.
``min_component_px`` (default ``50``; under ``paper`` none)
    Components with fewer pixels (on the original slice) are excluded. Under ``paper`` the
    released area rule applies instead unless this is set.
``expected_volumes`` (default none)
    If set (131 for the full LiTS training set), every N in ``0 … expected_volumes - 1`` must be
    present; otherwise only unpaired files are reported.
"""

from __future__ import annotations

import os
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import nibabel as nib
import numpy as np
from scipy import ndimage
from skimage.measure import label as label_components

from weaklesion import PATCH_SIZE
from weaklesion.datasets.base import Adapter, Exclusion, ItemResult, Lesion, WeakLabel
from weaklesion.datasets.windowing import as_window, gray_to_rgb, window_to_uint8
from weaklesion.ellipses.drawing import draw_released_target
from weaklesion.ellipses.fitting import FitError, released_cluster_features, released_fit
from weaklesion.errors import BadImageError, ConfigError, MissingFilesError, WeaklesionError
from weaklesion.protocols import PAPER
from weaklesion.raw.sources import SourceSpec, SourceTree

TUMOUR_LABEL = 2
BOX_PAD = 10  # the released code first grows the component's box by 10 px …
CROP_MARGIN = 8  # … then by 8 px more before squaring
DEFAULT_WINDOW = (0.0, 255.0)
DEFAULT_MIN_COMPONENT_PX = 50
RELEASED_AREA_THRESHOLD = 50
RELEASED_MIN_ELLIPSE_IOU = 0.4
FULL_DATASET_VOLUMES = 131

_FILE_PATTERN = re.compile(r"^(volume|segmentation)-(\d+)\.nii(\.gz)?$")
_NIFTI_ERRORS = (nib.filebasedimages.ImageFileError, OSError, EOFError, ValueError, zlib.error)


@dataclass(frozen=True)
class LitsItem:
    """One volume and its segmentation; paths relative to ``root``."""

    number: int
    root: str
    volume: str
    segmentation: str


Box = tuple[int, int, int, int]
"""(row_min, row_max, col_min, col_max), inclusive pixel indices."""


def paper_order_key(
    number: int, slice_index: int | None = None, component: int | None = None
) -> str:
    """Sort key reproducing the released code's string sort of its patch file names."""
    if slice_index is None:
        return f"volume-{number}_"
    return f"volume-{number}_{slice_index}_{component}.png"


def square_crop_box(box: Box, shape: tuple[int, int]) -> Box:
    """The crop around a component's bounding box, as the released code computed it.

    The box is grown by BOX_PAD + CROP_MARGIN and clipped to the image; half the longer side
    of that (rounded down) is taken either side of the box centre, then clipped to the image.
    """
    row_min, row_max, col_min, col_max = box
    pad = BOX_PAD + CROP_MARGIN
    extents = []
    for low, high, size in ((row_min, row_max, shape[0]), (col_min, col_max, shape[1])):
        # The released code clipped the grown box to [0, size] (not size - 1); kept as is.
        extents.append(min(high + pad, size) - max(0, low - pad) + 1)
    half = max(extents) // 2
    crop = []
    for low, high, size in ((row_min, row_max, shape[0]), (col_min, col_max, shape[1])):
        centre = round((low + high) / 2)  # half to even, as numpy rounded it there
        crop += [max(0, centre - half), min(size - 1, centre + half - 1)]
    return crop[0], crop[1], crop[2], crop[3]


def tumour_components(tumour: np.ndarray) -> tuple[list[tuple[int, Box, int]], np.ndarray]:
    """``(component, box, area)`` of each 8-connected component of a 2-D bool mask, and the
    label image (component k has label k)."""
    labels = label_components(tumour, connectivity=2)
    areas = np.bincount(labels.ravel())
    components = []
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        rows, cols = found
        box = (rows.start, rows.stop - 1, cols.start, cols.stop - 1)
        components.append((index, box, int(areas[index])))
    return components, labels


def lesion_patch(
    hu_slice: np.ndarray, component_mask: np.ndarray, crop: Box, window: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(120, 120, 3) uint8 image and (120, 120) bool mask cut out at ``crop``, and the mask
    at the crop's own resolution."""
    row0, row1, col0, col1 = crop
    size = (PATCH_SIZE, PATCH_SIZE)
    gray = window_to_uint8(hu_slice[row0 : row1 + 1, col0 : col1 + 1], window)
    image = gray_to_rgb(cv2.resize(gray, size, interpolation=cv2.INTER_LINEAR))
    crop_mask = component_mask[row0 : row1 + 1, col0 : col1 + 1]
    mask = cv2.resize(crop_mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    return image, mask.astype(bool), crop_mask


def released_area_rule(crop_mask: np.ndarray) -> bool:
    """Whether the released "area < 50" rule drops a component (PROTOCOL item 4): it summed
    the 0/255 patch, 255 per pixel, so only an empty patch ever fell below 50 and small
    components stayed. Kept because it decides the patch count (16,462) that the paper's
    index lists into the sorted patches assume."""
    return int(crop_mask.sum()) * 255 < RELEASED_AREA_THRESHOLD


def released_ellipse_iou(drawn: np.ndarray, crop_mask: np.ndarray) -> float:
    """The IoU the released code filtered on: the drawn ellipse and the 0/255 GT crop, each
    resized bilinearly to 120×120 and integer-divided by 255, so that only pixels still at
    full scale count. NaN where both are empty."""
    size = (PATCH_SIZE, PATCH_SIZE)
    ellipse = cv2.resize(drawn, size, interpolation=cv2.INTER_LINEAR) // 255 > 0
    truth = cv2.resize(crop_mask.astype(np.uint8) * 255, size,
                       interpolation=cv2.INTER_LINEAR) // 255 > 0
    union = np.count_nonzero(ellipse | truth)
    return np.count_nonzero(ellipse & truth) / union if union else float("nan")


def released_weak_label(crop_mask: np.ndarray) -> WeakLabel:
    """The released weak label of a tumour component (PROTOCOL item 5): the ellipse fitted on
    the GT crop at its own resolution, drawn there, and kept only if its released IoU with the
    crop is at least 0.4. FitError otherwise. The cluster features are fitted on the crop's
    truncated 120×120 resize, as for HAM10000 (NaN where that has too few hull points).
    Kept because the training targets, and which components are kept, came from these steps.
    """
    ellipse = released_fit(crop_mask.astype(np.uint8) * 255)
    if ellipse is None:
        raise FitError("the released ellipse fit has fewer than 5 hull points")
    frame = crop_mask.shape
    iou = released_ellipse_iou(draw_released_target("lits", ellipse, frame, resize=False),
                               crop_mask)
    if not iou >= RELEASED_MIN_ELLIPSE_IOU:
        raise FitError(f"released ellipse IoU with the mask {iou:.2f} < "
                       f"{RELEASED_MIN_ELLIPSE_IOU}")
    features = released_cluster_features(crop_mask)
    feature_array = np.full(5, np.nan, np.float32) if features is None else features.as_array()
    return WeakLabel(feature_array, ellipse.as_array(), frame, iou)


class LitsAdapter(Adapter):
    min_ellipse_iou = 0.4
    released_code = "lits"
    default_k = 40
    published_as = "lits"
    release_lesions = 16_462
    worker_memory_mb = 1000  # a CT volume, up to ~0.5 GB, in memory

    def list_items(self, source: SourceSpec, settings: Mapping[str, Any]) -> list[LitsItem]:
        # A folder only: NIfTI volumes are read by nibabel from their paths.
        root = source.root if isinstance(source, SourceTree) else source
        if not isinstance(root, str | os.PathLike):
            shown = source if isinstance(source, SourceTree) else ", ".join(map(str, source))
            raise ConfigError(f"LiTS is read from a folder of NIfTI files, not from archives "
                              f"({shown}): unpack them and set the dataset's path")
        root = Path(root)
        # Check every setting here too, so a typo fails before any work is spread out (listing
        # is the same for every protocol: the protocol's own default is checked in load).
        _window(settings)
        _whole_number(settings, "min_component_px", DEFAULT_MIN_COMPONENT_PX, minimum=0)
        expected = _expected_volumes(settings)
        found = _find_files(root)
        _check_complete(root, found, expected)
        items = [
            LitsItem(number, str(root), pair["volume"], pair["segmentation"])
            for number, pair in found.items()
        ]
        return sorted(items, key=lambda item: paper_order_key(item.number))

    def item_id(self, item: LitsItem) -> str:
        return f"volume-{item.number}"

    def load(self, item: LitsItem, settings: Mapping[str, Any]) -> ItemResult:
        window = _window(settings)
        paper = settings["protocol"] == PAPER
        min_area = _min_component_px(settings)
        root = Path(item.root)
        volume_img = _load_nifti(root, item.volume)
        seg_img = _load_nifti(root, item.segmentation)
        if volume_img.shape != seg_img.shape:
            raise BadImageError(
                item.volume,
                f"array shape {volume_img.shape} differs from {item.segmentation} "
                f"{seg_img.shape}; the two files must be the same scan",
            )
        if len(volume_img.shape) != 3:
            raise BadImageError(item.volume, f"expected a 3-D volume, got shape {volume_img.shape}")

        labels, label_scaling = _read_unscaled(root, item.segmentation, seg_img)
        _check_labels(item.segmentation, labels, label_scaling)
        tumour_by_slice = {
            z: tumour
            for z in range(labels.shape[2])
            if (tumour := _label_slice(item.segmentation, labels, z, label_scaling)
                == TUMOUR_LABEL).any()
        }
        if not tumour_by_slice:
            return ItemResult([], [])
        volume, volume_scaling = _read_unscaled(root, item.volume, volume_img)

        result = ItemResult([], [])
        order: dict[str, str] = {}  # lesion id -> its place in the released sorted file list
        for z, tumour in tumour_by_slice.items():
            components, component_labels = tumour_components(tumour)
            hu_slice = _scaled_slice(volume, z, volume_scaling)
            for component, box, area in components:
                lesion_id = f"volume-{item.number}_slice-{z:04d}_comp-{component}"
                order[lesion_id] = paper_order_key(item.number, z, component)
                if min_area is not None and area < min_area:
                    reason = f"tumour component of {area} px, below the {min_area} px minimum"
                    result.exclusions.append(Exclusion(item.volume, reason, lesion_id))
                    continue
                crop = square_crop_box(box, tumour.shape)
                image, mask, crop_mask = lesion_patch(hu_slice, component_labels == component,
                                                      crop, window)
                lesion = Lesion(
                    lesion_id=lesion_id,
                    group_id=f"volume-{item.number}",
                    source=item.volume,
                    image=image,
                    mask=mask,
                    meta=_meta(item.number, z, component, box, area, crop),
                )
                if paper:
                    _add_released(result, lesion, crop_mask)
                else:
                    result.lesions.append(lesion)
        result.lesions.sort(key=lambda lesion: order[lesion.lesion_id])
        result.cluster_rows.sort(key=lambda row: order[row[0]])
        return result


def _add_released(result: ItemResult, lesion: Lesion, crop_mask: np.ndarray) -> None:
    """The released steps for one component patch: the area rule, the row of the ellipse
    table that k-means clusters (made before any component is dropped), the weak label."""
    if released_area_rule(crop_mask):
        result.exclusions.append(Exclusion(lesion.source, "empty patch (released area rule)",
                                           lesion.lesion_id))
        return
    features = released_cluster_features(crop_mask)
    if features is not None:
        result.cluster_rows.append((lesion.lesion_id, features.as_array()))
    try:
        lesion.weak_label = released_weak_label(crop_mask)
    except FitError as error:
        result.exclusions.append(Exclusion(lesion.source, f"ellipse fit failed: {error}",
                                           lesion.lesion_id))
        return
    result.lesions.append(lesion)



def _meta(number: int, z: int, component: int, box: Box, area: int, crop: Box) -> dict:
    keys = ("row_min", "row_max", "col_min", "col_max")
    meta: dict[str, Any] = {"volume": number, "slice": z, "component": component, "area_px": area}
    meta |= {f"bbox_{key}": int(value) for key, value in zip(keys, box, strict=True)}
    meta |= {f"crop_{key}": int(value) for key, value in zip(keys, crop, strict=True)}
    return meta


# --- finding files ---------------------------------------------------------------------------


def _find_files(root: Path) -> dict[int, dict[str, str]]:
    """``{N: {"volume": rel_path, "segmentation": rel_path}}`` (a pair may lack one side)."""
    found: dict[int, dict[str, str]] = {}
    duplicates: list[str] = []
    if root.is_dir():
        for path in sorted(root.rglob("*.nii*")):
            match = _FILE_PATTERN.match(path.name)
            if not match or not path.is_file():
                continue
            kind, number = match.group(1), int(match.group(2))
            relative = path.relative_to(root).as_posix()
            previous = found.setdefault(number, {}).setdefault(kind, relative)
            if previous != relative:
                duplicates.append(f"{previous} and {relative}")
    if duplicates:
        raise WeaklesionError(
            f"LiTS files under {root} are ambiguous: the same file was found twice "
            f"({'; '.join(duplicates)}). Keep one copy of each."
        )
    return dict(sorted(found.items()))


def _check_complete(root: Path, found: dict[int, dict[str, str]], expected: int | None) -> None:
    if not found:
        raise MissingFilesError(
            f"No LiTS files found under {root}. Place the CT volumes volume-0.nii … "
            f"volume-130.nii and their masks segmentation-0.nii … segmentation-130.nii (.nii or "
            f".nii.gz) anywhere under that folder, e.g. {root}/volume_pt1/volume-0.nii and "
            f"{root}/segmentations/segmentation-0.nii (the Kaggle mirror needs a login, so they "
            f"are not downloaded for you)."
        )
    folders = {
        kind: _usual_folder(found, kind, default)
        for kind, default in (("volume", "volume_pt1"), ("segmentation", "segmentations"))
    }
    problems = []
    for number, pair in found.items():
        for kind, other in (("volume", "segmentation"), ("segmentation", "volume")):
            if kind in pair and other not in pair:
                problems.append(
                    f"{pair[kind]} has no {other}-{number}.nii(.gz): place it under {root}, "
                    f"e.g. as {root}/{folders[other]}/{other}-{number}.nii"
                )
    if expected is not None:
        absent = [n for n in range(expected) if n not in found]
        if absent:
            problems.append(
                f"volume-N.nii and segmentation-N.nii are both absent for N = "
                f"{_number_ranges(absent)} (expected_volumes is {expected})"
            )
    if problems:
        raise MissingFilesError(
            f"LiTS files under {root} are incomplete:\n  " + "\n  ".join(problems)
        )


def _usual_folder(found: dict[int, dict[str, str]], kind: str, default: str) -> str:
    """The folder holding most files of ``kind`` (relative to the root), else ``default``."""
    folders = Counter(Path(pair[kind]).parent.as_posix() for pair in found.values() if kind in pair)
    return folders.most_common(1)[0][0] if folders else default


def _number_ranges(numbers: Iterable[int]) -> str:
    """``[0, 1, 2, 5]`` → ``"0-2, 5"``."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


# --- reading NIfTI ---------------------------------------------------------------------------


def _load_nifti(root: Path, relative: str) -> nib.Nifti1Image:
    try:
        return nib.load(root / relative)
    except _NIFTI_ERRORS as error:
        message = f"cannot read NIfTI file {root / relative}: {error}"
        raise BadImageError(relative, message) from None


def _read_unscaled(
    root: Path, relative: str, image: nib.Nifti1Image
) -> tuple[np.ndarray, tuple[float, float]]:
    """The on-disk array and its (slope, intercept).

    Scaling is applied per slice later: a whole scaled volume would be float64, ~1.7 GB for a
    512×512×800 scan, where the stored int16 array is a quarter of that (or memory-mapped).
    """
    try:
        data = np.asanyarray(image.dataobj.get_unscaled())
    except _NIFTI_ERRORS as error:
        message = f"cannot read the data of {root / relative}: {error}"
        raise BadImageError(relative, message) from None
    return data, (float(image.dataobj.slope), float(image.dataobj.inter))


def _scaled_slice(data: np.ndarray, z: int, scaling: tuple[float, float]) -> np.ndarray:
    slope, inter = scaling
    plane = np.asarray(data[:, :, z])
    if slope == 1.0 and inter == 0.0:
        return plane
    return plane.astype(np.float32) * np.float32(slope) + np.float32(inter)


def _label_slice(
    relative: str, data: np.ndarray, z: int, scaling: tuple[float, float]
) -> np.ndarray:
    """Slice ``z`` of a segmentation; BadImageError unless every label is 0, 1 or 2.

    Whole-number storage within 0..2 is checked once for the volume (:func:`_check_labels`);
    float or scaled storage can also hold NaN or fractions, as from resampling with
    interpolation, which would silently shrink every tumour.
    """
    plane = _scaled_slice(data, z, scaling)
    if plane.dtype.kind == "f" and not np.isin(plane, (0, 1, TUMOUR_LABEL)).all():
        found = np.unique(plane[~np.isin(plane, (0, 1, TUMOUR_LABEL))])
        shown = ", ".join(f"{value:g}" for value in found[:5])
        raise BadImageError(
            relative,
            f"labels must be 0 (background), 1 (liver) or 2 (tumour), found {shown} on slice "
            f"{z}; was it resampled with interpolation instead of nearest neighbour?",
        )
    return plane


def _check_labels(relative: str, data: np.ndarray, scaling: tuple[float, float]) -> None:
    slope, inter = scaling
    ends = sorted((float(data.min()) * slope + inter, float(data.max()) * slope + inter))
    if ends[0] < 0 or ends[1] > TUMOUR_LABEL:
        raise BadImageError(
            relative,
            f"labels must be 0 (background), 1 (liver) or 2 (tumour), found values from "
            f"{ends[0]:g} to {ends[1]:g}; is this a segmentation file?",
        )


# --- settings --------------------------------------------------------------------------------


def _window(settings: Mapping[str, Any]) -> tuple[float, float]:
    value = settings.get("window", DEFAULT_WINDOW)
    try:
        return as_window(value)
    except ValueError as error:
        raise ConfigError(f"LiTS setting 'window': {error}") from None


def _min_component_px(settings: Mapping[str, Any]) -> int | None:
    """The configured minimum; by default 50, or none under ``paper`` (the released rule)."""
    if settings.get("min_component_px") is None and settings["protocol"] == PAPER:
        return None
    return _whole_number(settings, "min_component_px", DEFAULT_MIN_COMPONENT_PX, minimum=0)


def _expected_volumes(settings: Mapping[str, Any]) -> int | None:
    if settings.get("expected_volumes") is None:
        return None
    return _whole_number(
        settings,
        "expected_volumes",
        None,
        minimum=1,
        hint=f" ({FULL_DATASET_VOLUMES} for the full set)",
    )


def _whole_number(
    settings: Mapping[str, Any], key: str, default: int | None, minimum: int, hint: str = ""
) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"LiTS setting '{key}' must be a whole number ≥ {minimum}{hint}, got {value!r}"
        )
    return value
