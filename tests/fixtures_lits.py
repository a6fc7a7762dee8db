"""A tiny LiTS copy in the Kaggle mirror's layout: real NIfTI volumes and segmentations.

Each volume is 96×96×6 int16 HU (air, a body disc, a liver ellipse) with tumours of known
geometry (``TUMOURS``) in its segmentation (0 background, 1 liver, 2 tumour). As on the real
data, the segmentation carries an identity affine while its volume does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (96, 96, 6)
AIR_HU = -1000
BODY_HU = 30
LIVER_HU = 100  # plus the volume number, so each volume is recognisable
TUMOUR_HU = 50
VOLUME_AFFINE = np.diag([-0.7, -0.7, 2.5, 1.0])


@dataclass(frozen=True)
class Tumour:
    """A tumour on one slice: a filled ellipse (pixel centres inside) or a rectangle."""

    slice: int
    kind: str  # "ellipse" or "box"
    centre: tuple[float, float] = (0, 0)  # (row, col), ellipse
    radii: tuple[float, float] = (0, 0)  # (row, col), ellipse
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # (row_min, row_max, col_min, col_max)

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        rows, cols = np.indices(shape)
        if self.kind == "box":
            r0, r1, c0, c1 = self.box
            return (rows >= r0) & (rows <= r1) & (cols >= c0) & (cols <= c1)
        (cr, cc), (rr, rc) = self.centre, self.radii
        return ((rows - cr) / rr) ** 2 + ((cols - cc) / rc) ** 2 <= 1


# Listed in the order the adapter numbers components (raster order of the first pixel).
TUMOURS = (
    Tumour(1, "ellipse", centre=(30, 40), radii=(5, 7)),  # kept
    Tumour(1, "ellipse", centre=(60, 62), radii=(2, 2)),  # 13 px: dropped
    Tumour(3, "ellipse", centre=(48, 30), radii=(6, 4)),  # kept
    Tumour(3, "ellipse", centre=(50, 60), radii=(3, 3)),  # 29 px: dropped
    # Two squares touching at a corner: one component with 8-connectivity.
    Tumour(4, "box", box=(20, 27, 20, 27)),
    Tumour(4, "box", box=(28, 35, 28, 35)),
    Tumour(5, "box", box=(2, 9, 81, 91)),  # at the image edge: the crop is clipped
)
MIN_COMPONENT_PX = 50


def volume_arrays(number: int) -> tuple[np.ndarray, np.ndarray]:
    """(HU int16, labels uint8) arrays of fixture volume ``number``."""
    rows, cols = np.indices(SHAPE[:2])
    body = (rows - 48) ** 2 + (cols - 48) ** 2 <= 47**2
    liver = ((rows - 40) / 36) ** 2 + ((cols - 50) / 44) ** 2 <= 1
    hu = np.full(SHAPE, AIR_HU, dtype=np.int16)
    labels = np.zeros(SHAPE, dtype=np.uint8)
    hu[body] = BODY_HU
    hu[liver] = LIVER_HU + number
    labels[liver] = 1
    for tumour in TUMOURS:
        inside = tumour.mask(SHAPE[:2])
        hu[..., tumour.slice][inside] = TUMOUR_HU
        labels[..., tumour.slice][inside] = 2
    return hu, labels


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.Nifti1Image(array, np.eye(4) if affine is None else affine).to_filename(path)
    return path


def write_lits_fixture(
    root: Path,
    n_volumes: int = 2,
    numbers: Sequence[int] | None = None,
    compressed: bool = False,
) -> Path:
    """Write volumes ``numbers`` (default ``0 … n_volumes - 1``) under ``root``; return root.

    Volumes go to ``volume_pt{N // 10 + 1}/volume-N.nii``, segmentations to
    ``segmentations/segmentation-N.nii`` (``.nii.gz`` when ``compressed``).
    """
    root = Path(root)
    suffix = ".nii.gz" if compressed else ".nii"
    for number in range(n_volumes) if numbers is None else numbers:
        hu, labels = volume_arrays(number)
        write_nifti(
            root / f"volume_pt{number // 10 + 1}" / f"volume-{number}{suffix}", hu, VOLUME_AFFINE
        )
        write_nifti(root / "segmentations" / f"segmentation-{number}{suffix}", labels)
    return root
