"""A synthetic DeepLesion in NIH's on-disk layout, for the archive benchmarks.

``Images_png_NN.zip`` each hold ``Images_png/<patient>_01_01/NNN.png`` series of 16-bit PNG
slices (HU + 32768, 512×512 unless asked otherwise), stored as NIH stores them (PNG data does
not deflate further), and ``DL_info.csv`` beside them lists a few lesions per series, so the
preprocessing needs a small share of the slices: as with the real set, where 32,735 lesions
use a few slices each of ~928,000.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import cv2
import numpy as np

from weaklesion.datasets.deeplesion import OFFICIAL_COLUMNS


def _numbers(values) -> str:
    return ", ".join(f"{float(v):g}" for v in values)


def _slice(rng: np.random.Generator, size: int, index: int,
           lesions: list[tuple[int, int, int, int]]) -> np.ndarray:
    ys, xs = np.mgrid[:size, :size]
    body = ((xs - size / 2) ** 2 + (ys - size / 2) ** 2) < (0.42 * size) ** 2
    hu = np.where(body, 40.0 + 0.05 * index, -1000.0)
    hu += rng.normal(0, 12, (size, size))
    for cx, cy, a, b in lesions:
        hu[((xs - cx) / a) ** 2 + ((ys - cy) / b) ** 2 <= 1] += 120
    return np.clip(hu + 32768, 0, 65535).astype(np.uint16)


def write_synthetic_deeplesion(out: Path, *, archives: int = 20, series_per_archive: int = 2,
                               slices: int = 50, lesions_per_series: int = 2, size: int = 512,
                               seed: int = 0) -> list[Path]:
    """Write the archives and DL_info.csv into ``out``; return their paths (DL_info last)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, paths = [], []
    patient = 0
    for number in range(1, archives + 1):
        path = out / f"Images_png_{number:02d}.zip"
        with zipfile.ZipFile(path.with_suffix(".partial"), "w", zipfile.ZIP_STORED) as zipped:
            for _ in range(series_per_archive):
                patient += 1
                series = f"{patient:06d}_01_01"
                lesions = []
                for _ in range(lesions_per_series):
                    key = int(rng.integers(3, slices - 3))
                    cx, cy = (int(v) for v in rng.integers(size // 4, 3 * size // 4, 2))
                    a, b = float(rng.uniform(10, 30)), float(rng.uniform(6, 10))
                    lesions.append((key, cx, cy, a, b))
                    rows.append(_row(series, patient, key, cx, cy, a, b, slices, size))
                for index in range(1, slices + 1):
                    near = [(cx, cy, a, b) for key, cx, cy, a, b in lesions
                            if abs(key - index) <= 2]
                    ok, png = cv2.imencode(".png", _slice(rng, size, index, near))
                    assert ok
                    zipped.writestr(f"Images_png/{series}/{index:03d}.png", png.tobytes())
        path.with_suffix(".partial").rename(path)
        paths.append(path)
    dl_info = out / "DL_info.csv"
    with open(dl_info, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(OFFICIAL_COLUMNS)
        writer.writerows(rows)
    return [*paths, dl_info]


def _row(series, patient, key, cx, cy, a, b, slices, size) -> list[str]:
    recist = np.array([cx - a, cy, cx + a, cy, cx, cy - b, cx, cy + b]) + 1  # 1-based
    box = np.array([cx - a - 5, cy - b - 5, cx + a + 5, cy + b + 5]) + 1
    return [
        f"{series}_{key:03d}.png", str(patient), "1", "1", str(key), _numbers(recist),
        _numbers(box), _numbers([2 * a, 2 * b]), _numbers([cx / size, cy / size, 0.5]),
        "4", "0", f"1, {slices}", _numbers([0.8, 0.8, 2.5]), f"{size}, {size}",
        _numbers([-175, 275]), "F" if patient % 2 else "M", str(30 + patient % 50),
        str((patient - 1) % 3 + 1),
    ]
