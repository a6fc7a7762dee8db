"""The released code's test vectors (tests/reference_vectors.py) as datasets on disk: their
inputs written in HAM10000's, LiTS's and DeepLesion's own formats, so that the workflow, not
only its functions, can be checked against the released outputs.

- HAM10000: the 30 masks as ``*_segmentation.png``, the images as JPEGs (the vectors' own
  files for the first ones, made-up images for the rest), and a metadata csv.
- LiTS: the 4 label slices as one ``segmentation-0.nii`` (slice z = label slice z), with a
  ``volume-0.nii`` whose HU only matter for the images, not for the kept components.
- DeepLesion: one series per RECIST case, 16-bit PNG slices and ``DL_info.csv`` rows placing
  each lesion so that its patch coordinates are the vectors' (and, for the GrabCut cases, its
  windowed patch is the vectors' patch: window [-0.5, 254.5] maps HU h to exactly h).
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
from fixtures_deeplesion import COLUMNS as DL_COLUMNS
from fixtures_ham import write_ham_fixture, write_mask
from fixtures_lits import write_nifti

HAM_SIZE = (450, 600)
DL_IMAGE = 200  # side of the synthetic CT slices
DL_CENTRE = 100  # every lesion box is centred here (0-based), so the patch starts at 40
DL_ORIGIN = DL_CENTRE - 60
DL_WINDOW = (-0.5, 254.5)
DL_KEY_SLICE = 5


def write_ham_dataset(root: Path, vectors: dict) -> list[str]:
    """The HAM10000 vectors in the release's unpacked layout; the image ids in order."""
    images = write_ham_fixture(root, n_images=len(vectors["mask"]), width=HAM_SIZE[1],
                               height=HAM_SIZE[0], seed=3)
    for i, image in enumerate(images):
        write_mask(image.mask_path(root), vectors["mask"][i] > 0)
        if i < len(vectors["image_jpeg"]):
            image.image_path(root).write_bytes(vectors["image_jpeg"][i])
    return [image.image_id for image in images]


def write_lits_dataset(root: Path, vectors: dict) -> None:
    labels = np.stack(list(vectors["labels"]), axis=-1).astype(np.uint8)  # (512, 512, slices)
    hu = np.where(labels > 0, 100 + 40 * labels, -50).astype(np.int16)
    write_nifti(root / "volume_pt1" / "volume-0.nii", hu)
    write_nifti(root / "segmentations" / "segmentation-0.nii", labels)


def lits_lesion_id(slice_index: int, component: int) -> str:
    return f"volume-0_slice-{slice_index:04d}_comp-{component}"


def write_deeplesion_dataset(root: Path, recist: np.ndarray,
                             patches: list[np.ndarray | None]) -> None:
    """One patient and series per case: ``recist`` (N, 8) in patch coordinates, ``patches``
    the (120, 120) windowed key-slice patch of each case (None: a blank slice)."""
    rows = []
    for case, (points, patch) in enumerate(zip(recist, patches, strict=True)):
        patient = case + 1
        series = f"{patient:06d}_01_01"
        hu = np.zeros((DL_IMAGE, DL_IMAGE), np.int32)
        if patch is not None:
            hu[DL_ORIGIN:DL_ORIGIN + 120, DL_ORIGIN:DL_ORIGIN + 120] = patch
        folder = root / "Images_png" / series
        folder.mkdir(parents=True, exist_ok=True)
        for slice_index in (DL_KEY_SLICE - 1, DL_KEY_SLICE, DL_KEY_SLICE + 1):
            assert cv2.imwrite(str(folder / f"{slice_index:03d}.png"),
                               (hu + 32768).astype(np.uint16))
        # CSV coordinates are 1-based image pixels: patch coordinate p is image p + origin.
        csv_points = np.asarray(points, float) + DL_ORIGIN + 1
        low, high = DL_CENTRE + 1 - 40, DL_CENTRE + 1 + 40
        rows.append([
            f"{series}_{DL_KEY_SLICE:03d}.png", str(patient), "1", "1", str(DL_KEY_SLICE),
            ", ".join(repr(float(v)) for v in csv_points), f"{low}, {low}, {high}, {high}",
            "10, 5", "0.5, 0.5, 0.5", "-1", "0", f"1, {DL_KEY_SLICE + 1}",
            "0.8, 0.8, 2", f"{DL_IMAGE}, {DL_IMAGE}", f"{DL_WINDOW[0]}, {DL_WINDOW[1]}",
            "F", "50", str(case % 3 + 1),
        ])  # fmt: skip
    with open(root / "DL_info.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(DL_COLUMNS)
        writer.writerows(rows)
