"""A tiny ``format: folder`` dataset: ``images/<id>.png|.jpg``, ``masks/<id>.png``, groups.csv.

Cases alternate between PNG and JPEG images and between 0/255 and 0/1 masks, the two mask
conventions users bring. Each lesion is an axis-aligned ellipse of known geometry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from fixtures_ham import ellipse_mask, lesion_image, write_jpeg, write_mask, write_png

SIZE = (90, 120)  # rows, cols


@dataclass(frozen=True)
class FolderCase:
    lesion_id: str
    image_suffix: str  # ".png" or ".jpg"
    mask_foreground: int  # 255 or 1
    centre: tuple[float, float]  # (x, y)
    semi_axes: tuple[float, float]  # along x, along y

    def mask(self) -> np.ndarray:
        return ellipse_mask(SIZE, self.centre, self.semi_axes)

    def image_path(self, root: Path) -> Path:
        return Path(root) / "images" / f"{self.lesion_id}{self.image_suffix}"

    def mask_path(self, root: Path) -> Path:
        return Path(root) / "masks" / f"{self.lesion_id}.png"


def write_folder_fixture(
    root: Path, n_images: int = 4, *, groups: Mapping[str, str] | None = None, seed: int = 0
) -> list[FolderCase]:
    """Write cases ``case_00`` … under ``root`` (and groups.csv if given); sorted by id."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    cases = []
    for index in range(n_images):
        case = FolderCase(
            lesion_id=f"case_{index:02d}",
            image_suffix=".jpg" if index % 2 else ".png",
            mask_foreground=1 if index % 2 else 255,
            centre=(float(rng.uniform(50, 70)), float(rng.uniform(38, 52))),
            semi_axes=(float(rng.uniform(20, 35)), float(rng.uniform(15, 25))),
        )
        rgb = lesion_image(case.mask(), (90, 60, 40), rng)
        if case.image_suffix == ".jpg":
            write_jpeg(case.image_path(root), rgb)
        else:
            write_png(case.image_path(root), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        write_mask(case.mask_path(root), case.mask(), case.mask_foreground)
        cases.append(case)
    if groups is not None:
        table = pd.DataFrame({"id": list(groups), "group": list(groups.values())})
        table.to_csv(root / "groups.csv", index=False)
    return cases
