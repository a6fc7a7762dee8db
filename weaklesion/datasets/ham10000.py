"""HAM10000 (Tschandl et al. 2018) as released on the Harvard Dataverse.

Layout of the dataset's tree (:mod:`weaklesion.raw.sources`: the four downloaded files read in
place, or a folder holding them unpacked side by side, at any nesting depth)::

    HAM10000_images_part_1/ISIC_0024306.jpg ...
    HAM10000_images_part_2/ISIC_0029306.jpg ...
    HAM10000_segmentations_lesion_tschandl/ISIC_0024306_segmentation.png ...
    HAM10000_metadata.csv   (lesion_id, image_id, dx, dx_type, age, sex, localization[, dataset])

The mask archive holds a nested folder of the same name and carries a
``__MACOSX/`` tree of ``._*`` stubs; those are not masks. Each image is one lesion: the whole
image is resized to 120×120 (as the paper did) and its group is the metadata's ``lesion_id``,
since one lesion can have several images.

Under ``protocol: paper`` the lesion is prepared as the released code prepared it (PROTOCOL
items 7, 8, 16): bilinear image and nearest-neighbour mask resizing, the target's ellipse
fitted on the full-size mask, the k-means features on a truncated 120×120 resize of it, and
on the full release exactly the paper's three exclusions (see :func:`released_weak_label`).
The demo and folder formats share this adapter's procedure.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from weaklesion.datasets.base import Adapter, Exclusion, ItemResult, Lesion, WeakLabel
from weaklesion.datasets.imaging import file_bytes, whole_image_patch
from weaklesion.ellipses.fitting import (
    FitError,
    fit_ellipse_to_mask,
    mask_iou,
    rasterise_ellipse,
    released_cluster_features,
    released_fit,
)
from weaklesion.errors import BadImageError, MissingFilesError
from weaklesion.protocols import PAPER
from weaklesion.raw.sources import SourceFile, SourceSpec, SourceTree

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
    """One image; ``position`` is its index among the sorted ids, ``full_release`` whether
    there are exactly the release's 10,015 (so the paper's exclusions apply)."""

    image_id: str
    image: SourceFile | None
    mask: SourceFile | None
    metadata: tuple[tuple[str, Any], ...]
    position: int = 0
    full_release: bool = False

    @property
    def paper_excluded(self) -> bool:
        return self.full_release and self.position in PAPER_EXCLUDED_POSITIONS


def _is_macos_stub(tree_path: str) -> bool:
    path = PurePosixPath(tree_path)
    return "__MACOSX" in path.parts or path.name.startswith("._")


def _find_files(tree: SourceTree, folder: str, pattern: re.Pattern) -> dict[str, SourceFile]:
    found: dict[str, SourceFile] = {}
    for directory in tree.folders_named(folder):
        if _is_macos_stub(directory):
            continue
        for file in tree.in_folder(directory):
            match = pattern.match(file.name)
            if match and not _is_macos_stub(file.tree_path):
                found.setdefault(match.group(1), file)
    return found


def find_metadata(tree: SourceTree) -> SourceFile:
    candidates = tree.matching(lambda p: PurePosixPath(p).name.startswith("HAM10000_metadata")
                               and not _is_macos_stub(p)
                               and PurePosixPath(p).suffix in {".csv", ".tab", ""})
    if not candidates:
        raise MissingFilesError(
            f"HAM10000_metadata.csv not found in {tree}; download it from the Harvard "
            "Dataverse (file 4338392) and place it there"
        )
    return candidates[0]


def read_metadata(file: SourceFile | Path) -> pd.DataFrame:
    path = str(file)
    separator = "\t" if path.endswith(".tab") else ","
    table = pd.read_csv(io.BytesIO(file_bytes(file)), sep=separator, dtype=str,
                        keep_default_na=False)
    table.columns = [c.strip().strip('"') for c in table.columns]
    missing = [c for c in ("lesion_id", "image_id") if c not in table.columns]
    if missing:
        raise MissingFilesError(f"{path}: missing column(s) {', '.join(missing)}")
    duplicated = table["image_id"][table["image_id"].duplicated()]
    if len(duplicated):
        raise BadImageError(str(path), f"image_id {duplicated.iloc[0]} appears twice")
    return table.set_index("image_id")


class Ham10000Adapter(Adapter):
    released_code = "ham10000"
    paper_channel_order = "bgr"
    default_k = 45
    published_as = "ham10k"
    manifest = "ham10000"
    release_lesions = 10_012

    def list_items(self, source: SourceSpec, settings: Mapping[str, Any]) -> list[HamItem]:
        tree = SourceTree.open(source)
        images = {}
        for folder in IMAGE_DIRS:
            images.update(_find_files(tree, folder, IMAGE_NAME))
        masks = _find_files(tree, MASK_DIR, MASK_NAME)
        if not images or not masks:
            absent = [f"{name}/" for name, found in
                      ((f"{IMAGE_DIRS[0]}/ and {IMAGE_DIRS[1]}", images), (MASK_DIR, masks))
                      if not found]
            raise MissingFilesError(
                f"no HAM10000 {' or '.join(absent)} found in {tree}; it must hold (or be "
                "unpacked from) HAM10000_images_part_1.zip, HAM10000_images_part_2.zip and "
                "HAM10000_segmentations_lesion_tschandl.zip"
            )
        metadata = read_metadata(find_metadata(tree))
        ids = sorted(set(images) | set(masks))
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
                position=position,
                full_release=len(ids) == PAPER_IMAGE_COUNT,
            )
            for position, image_id in enumerate(ids)
        ]

    def item_id(self, item: HamItem) -> str:
        return item.image_id

    def load(self, item: HamItem, settings: Mapping[str, Any]) -> ItemResult:
        source = str(item.image or item.mask)
        paper = settings["protocol"] == PAPER
        if paper and item.paper_excluded:
            reason = "excluded by the paper (its ellipse fit failed in the reference code)"
            return ItemResult([], [Exclusion(source, reason, item.image_id)])
        if item.image is None:
            raise BadImageError(source, f"mask has no image {item.image_id}.jpg")
        if item.mask is None:
            raise BadImageError(source, f"image has no mask {item.image_id}_segmentation.png")
        if not item.metadata:
            raise BadImageError(source, f"{item.image_id} has no row in the metadata csv")
        image, patch_mask, full_mask = whole_image_patch(item.image, item.mask, released=paper)
        metadata = dict(item.metadata)
        lesion = Lesion(
            lesion_id=item.image_id,
            group_id=metadata["lesion_id"] or item.image_id,
            source=item.image.tree_path,
            image=image,
            mask=patch_mask,
            meta=metadata,
            origin=str(item.image),
        )
        if not paper:
            return ItemResult([lesion], [])
        return released_lesion(lesion, full_mask, item.full_release)


def released_weak_label(full_mask: np.ndarray, patch_mask: np.ndarray) -> WeakLabel:
    """The released code's weak label of a HAM10000-style image (PROTOCOL items 7, 8).

    The training target's ellipse is fitted on the full-size mask and drawn at full size
    (see :mod:`weaklesion.weak_labels.targets`); k-means clusters a second ellipse, fitted on
    a truncated 120×120 resize of the mask. FitError where either fit has too few hull points,
    the only reason the released code dropped an image. Kept because the published HAM10000
    numbers and the paper's split (a shuffle over the images kept) came from exactly these
    steps.
    """
    target_ellipse = released_fit(full_mask.astype(np.uint8) * 255)
    features = released_cluster_features(full_mask)
    if target_ellipse is None or features is None:
        failed = "full-size" if target_ellipse is None else "120×120 k-means"
        raise FitError(f"the released {failed} ellipse fit has fewer than 5 hull points")
    iou = mask_iou(rasterise_ellipse(features, patch_mask.shape), patch_mask)
    return WeakLabel(features.as_array(), target_ellipse.as_array(), full_mask.shape, iou)


def released_lesion(lesion: Lesion, full_mask: np.ndarray, full_release: bool) -> ItemResult:
    """The lesion with its released weak label, or its exclusion (protocol ``paper``).

    The paper's split shuffles the images kept, so one exclusion more or less moves it
    (PROTOCOL item 16). On the full release the paper's three exclusions are applied by
    position (:meth:`Ham10000Adapter.load`), and an image this project's own fit would refuse
    is kept with a warning; one the released fit itself refuses is excluded, with a warning
    that the split then differs from the paper's.
    """
    try:
        lesion.weak_label = released_weak_label(full_mask, lesion.mask)
    except FitError as error:
        where = lesion.origin or lesion.source
        warnings = [f"{where}: excluded ({error}) although the paper kept it; the "
                    "split differs from the paper's"] if full_release else []
        return ItemResult([], [Exclusion(where, f"ellipse fit failed: {error}",
                                         lesion.lesion_id)], warnings=warnings)
    warnings = []
    try:
        fit_ellipse_to_mask(lesion.mask)
    except FitError as error:
        warnings.append(f"{lesion.origin or lesion.source}: kept under protocol paper, as the "
                        "released code "
                        f"kept it, although this project's fit refuses it ({error})")
    return ItemResult([lesion], [], warnings=warnings)

