"""HAM10000 (Tschandl et al. 2018) as released on the Harvard Dataverse.

Layout under the root (archives unpacked side by side, any nesting depth)::

    HAM10000_images_part_1/ISIC_0024306.jpg ...
    HAM10000_images_part_2/ISIC_0029306.jpg ...
    HAM10000_segmentations_lesion_tschandl/ISIC_0024306_segmentation.png ...
    HAM10000_metadata.csv   (lesion_id, image_id, dx, dx_type, age, sex, localization[, dataset])

The mask archive also unpacks into a nested folder of the same name and carries a
``__MACOSX/`` tree of ``._*`` stubs; those are not masks. Each image is one lesion: the whole
image is resized to 120×120 (as the paper did) and its group is the metadata's ``lesion_id``,
since one lesion can have several images.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from weaklesion.datasets.base import Exclusion, ItemResult, Lesion
from weaklesion.datasets.imaging import whole_image_patch
from weaklesion.errors import BadImageError, MissingFilesError

IMAGE_DIRS = ("HAM10000_images_part_1", "HAM10000_images_part_2")
MASK_DIR = "HAM10000_segmentations_lesion_tschandl"
IMAGE_NAME = re.compile(r"^(ISIC_\d+)\.jpg$", re.IGNORECASE)
MASK_NAME = re.compile(r"^(ISIC_\d+)_segmentation\.png$")

# Positions, in the sorted list of the 10,015 images, whose ellipse fit failed in the
# reference code; the paper's split shuffles the 10,012 that remain.
PAPER_EXCLUDED_POSITIONS = (1736, 3925, 5513)
PAPER_IMAGE_COUNT = 10_015


@dataclass(frozen=True)
class HamItem:
    image_id: str
    image: Path | None
    mask: Path | None
    metadata: tuple[tuple[str, Any], ...]
    paper_excluded: bool = False


def _is_macos_stub(path: Path) -> bool:
    return "__MACOSX" in path.parts or path.name.startswith("._")


def _find_files(root: Path, folder: str, pattern: re.Pattern) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in sorted(root.rglob(folder)):
        if not directory.is_dir() or _is_macos_stub(directory):
            continue
        for path in directory.iterdir():
            match = pattern.match(path.name)
            if match and not _is_macos_stub(path):
                found.setdefault(match.group(1), path)
    return found


def find_metadata(root: Path) -> Path:
    candidates = sorted(
        p for p in root.rglob("HAM10000_metadata*")
        if p.is_file() and not _is_macos_stub(p) and p.suffix in {".csv", ".tab", ""}
    )
    if not candidates:
        raise MissingFilesError(
            f"HAM10000_metadata.csv not found under {root}; download it from the Harvard "
            "Dataverse (file 4338392) and place it there"
        )
    return candidates[0]


def read_metadata(path: Path) -> pd.DataFrame:
    separator = "\t" if path.suffix == ".tab" else ","
    table = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False)
    table.columns = [c.strip().strip('"') for c in table.columns]
    missing = [c for c in ("lesion_id", "image_id") if c not in table.columns]
    if missing:
        raise MissingFilesError(f"{path}: missing column(s) {', '.join(missing)}")
    duplicated = table["image_id"][table["image_id"].duplicated()]
    if len(duplicated):
        raise BadImageError(str(path), f"image_id {duplicated.iloc[0]} appears twice")
    return table.set_index("image_id")


class Ham10000Adapter:
    has_masks = True
    min_ellipse_iou = None

    def list_items(self, root: Path, settings: Mapping[str, Any]) -> list[HamItem]:
        root = Path(root)
        images = {}
        for folder in IMAGE_DIRS:
            images.update(_find_files(root, folder, IMAGE_NAME))
        masks = _find_files(root, MASK_DIR, MASK_NAME)
        if not images or not masks:
            absent = [f"{name}/" for name, found in
                      ((f"{IMAGE_DIRS[0]}/ and {IMAGE_DIRS[1]}", images), (MASK_DIR, masks))
                      if not found]
            raise MissingFilesError(
                f"no HAM10000 {' or '.join(absent)} found under {root}; unpack "
                "HAM10000_images_part_1.zip, HAM10000_images_part_2.zip and "
                "HAM10000_segmentations_lesion_tschandl.zip there"
            )
        metadata = read_metadata(find_metadata(root))
        ids = sorted(set(images) | set(masks))
        paper_excluded = set()
        if settings.get("protocol", "paper") == "paper" and len(ids) == PAPER_IMAGE_COUNT:
            paper_excluded = {ids[i] for i in PAPER_EXCLUDED_POSITIONS}
        columns = tuple(metadata.columns)
        rows = dict(zip(metadata.index, metadata.itertuples(index=False, name=None),
                        strict=True))  # one pass; .loc per image costs a second per 10,000
        return [
            HamItem(
                image_id=image_id,
                image=images.get(image_id),
                mask=masks.get(image_id),
                metadata=tuple(zip(columns, rows[image_id], strict=True))
                if image_id in rows else (),
                paper_excluded=image_id in paper_excluded,
            )
            for image_id in ids
        ]

    def load(self, item: HamItem, settings: Mapping[str, Any]) -> ItemResult:
        source = str(item.image or item.mask)
        if item.paper_excluded:
            reason = "excluded by the paper (its ellipse fit failed in the reference code)"
            return ItemResult([], [Exclusion(source, reason, item.image_id)])
        if item.image is None:
            raise BadImageError(source, f"mask has no image {item.image_id}.jpg")
        if item.mask is None:
            raise BadImageError(source, f"image has no mask {item.image_id}_segmentation.png")
        if not item.metadata:
            raise BadImageError(source, f"{item.image_id} has no row in the metadata csv")
        image, patch_mask = whole_image_patch(item.image, item.mask)
        metadata = dict(item.metadata)
        lesion = Lesion(
            lesion_id=item.image_id,
            group_id=metadata["lesion_id"] or item.image_id,
            source=str(item.image),
            image=image,
            mask=patch_mask,
            meta=metadata,
        )
        return ItemResult([lesion], [])

