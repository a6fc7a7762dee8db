"""A tiny DeepLesion copy in the official layout: 16-bit PNG slices and DL_info.csv.

Each patient has one series ``Images_png/<patient>_01_01/`` of ``N_SLICES`` slices
(``001.png`` …), 128×128, value = HU + 32768. The background HU tells slice and column apart
(``background_hu``), so a test can see which slice went into which channel; three bright
elliptic lesions (``LESION_HU``) are drawn on every slice. ``DL_info.csv`` has the 18 official
columns, multi-value fields quoted ``"a, b, ..."``, 1-based coordinates, and patients cycle
through the official splits 1, 2, 3, the slice intervals ``Z_SPACINGS`` and ``WINDOWS``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SIZE = 128
N_SLICES = 9
LESION_HU = 200
Z_SPACINGS = (1.0, 2.5, 5.0)
WINDOWS = ((-175.0, 275.0), (-160.0, 240.0))
BOX_MARGIN = 5
COLUMNS = (
    "File_name", "Patient_index", "Study_index", "Series_ID", "Key_slice_index",
    "Measurement_coordinates", "Bounding_boxes", "Lesion_diameters_Pixel_",
    "Normalized_lesion_location", "Coarse_lesion_type", "Possibly_noisy", "Slice_range",
    "Spacing_mm_px_", "Image_size", "DICOM_windows", "Patient_gender", "Patient_age",
    "Train_Val_Test",
)  # fmt: skip


def background_hu(slice_index: int, x: np.ndarray | int) -> np.ndarray | int:
    """HU of the background of slice ``slice_index`` at image column ``x``."""
    return -100 + 25 * slice_index + 4 * (np.asarray(x) // 8)


def series_name(patient: int) -> str:
    return f"{patient:06d}_01_01"


def z_spacing(patient: int) -> float:
    return Z_SPACINGS[(patient - 1) % len(Z_SPACINGS)]


def window(patient: int) -> tuple[float, float]:
    return WINDOWS[(patient - 1) % len(WINDOWS)]


def official_split(patient: int) -> int:
    return (patient - 1) % 3 + 1


@dataclass(frozen=True)
class FixtureLesion:
    """A lesion: ellipse centred on an integer pixel (x, y), 0-based, long axis at ``angle``."""

    row: int
    patient: int
    key_slice: int
    centre: tuple[int, int]
    semi_axes: tuple[float, float]  # long, short
    angle: float  # degrees, direction of the long axis (x right, y down)

    def recist(self) -> np.ndarray:
        """(4, 2) 0-based endpoints: long axis, then short axis."""
        (cx, cy), (a, b), t = self.centre, self.semi_axes, math.radians(self.angle)
        long_dir = np.array([math.cos(t), math.sin(t)])
        short_dir = np.array([-math.sin(t), math.cos(t)])
        centre = np.array([cx, cy], dtype=float)
        return np.array(
            [
                centre - a * long_dir,
                centre + a * long_dir,
                centre - b * short_dir,
                centre + b * short_dir,
            ]
        )

    def box(self) -> tuple[float, float, float, float]:
        """0-based x1, y1, x2, y2: the ellipse's extent plus BOX_MARGIN, symmetric about it."""
        (cx, cy), (a, b), t = self.centre, self.semi_axes, math.radians(self.angle)
        half_w = math.hypot(a * math.cos(t), b * math.sin(t)) + BOX_MARGIN
        half_h = math.hypot(a * math.sin(t), b * math.cos(t)) + BOX_MARGIN
        return cx - half_w, cy - half_h, cx + half_w, cy + half_h

    def mask(self, shape: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
        """Pixels whose centres lie inside the ellipse."""
        ys, xs = np.indices(shape)
        (cx, cy), (a, b), t = self.centre, self.semi_axes, math.radians(self.angle)
        along = (xs - cx) * math.cos(t) + (ys - cy) * math.sin(t)
        across = -(xs - cx) * math.sin(t) + (ys - cy) * math.cos(t)
        return (along / a) ** 2 + (across / b) ** 2 <= 1


def fixture_lesions(n_patients: int = 3) -> list[FixtureLesion]:
    """The rows of the fixture's DL_info.csv, in order.

    Per patient: A and B share key slice 5 (ids must still differ); C sits on slice
    N_SLICES - 1, so its next neighbour is clamped, and 10 px from the left edge, so its patch
    repeats the image's first column.
    """
    lesions = []
    for patient in range(1, n_patients + 1):
        for key_slice, centre, axes, angle in (
            (5, (40 + 4 * patient, 44), (12.0, 7.0), 20.0 + 15 * patient),
            (5, (86, 90), (9.0, 6.0), 120.0),
            (N_SLICES - 1, (10, 64), (6.0, 4.0), 90.0),
        ):
            lesions.append(FixtureLesion(len(lesions), patient, key_slice, centre, axes, angle))
    return lesions


def _numbers(values) -> str:
    return ", ".join(f"{float(v):g}" for v in values)


def _csv_row(lesion: FixtureLesion) -> list[str]:
    p = lesion.patient
    recist, box = lesion.recist() + 1, np.array(lesion.box()) + 1  # the CSV is 1-based
    split = official_split(p)
    return [
        f"{series_name(p)}_{lesion.key_slice:03d}.png", str(p), "1", "1", str(lesion.key_slice),
        _numbers(recist.ravel()), _numbers(box),
        _numbers(2 * np.array(lesion.semi_axes)),
        _numbers([lesion.centre[0] / SIZE, lesion.centre[1] / SIZE, 0.5]),
        "-1" if split == 1 else "4", "0", f"1, {N_SLICES}",
        _numbers([0.8, 0.8, z_spacing(p)]), f"{SIZE}, {SIZE}", _numbers(window(p)),
        "F" if p % 2 else "M", str(40 + p), str(split),
    ]  # fmt: skip


def write_deeplesion_fixture(root: Path, n_patients: int = 3) -> Path:
    """Write ``Images_png/`` and ``DL_info.csv`` for ``n_patients`` patients; return root."""
    root = Path(root)
    lesions = fixture_lesions(n_patients)
    xs = np.arange(SIZE)
    for patient in range(1, n_patients + 1):
        series_dir = root / "Images_png" / series_name(patient)
        series_dir.mkdir(parents=True, exist_ok=True)
        inside = np.zeros((SIZE, SIZE), dtype=bool)
        for lesion in lesions:
            if lesion.patient == patient:
                inside |= lesion.mask()
        for slice_index in range(1, N_SLICES + 1):
            hu = np.broadcast_to(background_hu(slice_index, xs), (SIZE, SIZE)).copy()
            hu[inside] = LESION_HU
            cv2.imwrite(str(series_dir / f"{slice_index:03d}.png"), (hu + 32768).astype(np.uint16))
    with open(root / "DL_info.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(_csv_row(lesion) for lesion in lesions)
    return root
