"""A plain folder of images and masks, for users' own data.

Layout under the root::

    images/<id>.png | .jpg | .jpeg
    masks/<id>.png              (0/255 or 0/1)
    groups.csv                  (optional: id,group — e.g. the patient, so that the
                                 corrected split keeps a patient's images together)

Each image is one lesion, resized whole to 120×120 like HAM10000 (under ``protocol: paper``
with HAM10000's released procedure, :func:`weaklesion.datasets.ham10000.released_lesion`).
An image without a mask, or a mask without an image, is a bad item: an error, or an
excluded.csv row under ``on_bad_image: skip``. Ids may hold spaces and any unicode, but
file names must be valid UTF-8 (they are stored as text in data.h5 and the tables).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from weaklesion.datasets.base import Adapter, ItemResult, Lesion
from weaklesion.datasets.ham10000 import released_lesion
from weaklesion.datasets.imaging import check_name_is_utf8, file_bytes, whole_image_patch
from weaklesion.errors import BadImageError, MissingFilesError
from weaklesion.protocols import PAPER
from weaklesion.raw.sources import SourceFile, SourceSpec, SourceTree

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class FolderItem:
    lesion_id: str
    group_id: str
    image: SourceFile | None
    mask: SourceFile | None


def _by_stem(tree: SourceTree, folder: str, suffixes: tuple[str, ...]) -> dict[str, SourceFile]:
    files: dict[str, SourceFile] = {}
    for file in tree.in_folder(folder):
        path = PurePosixPath(file.tree_path)
        if path.suffix.lower() in suffixes and not path.name.startswith("."):
            check_name_is_utf8(Path(str(file)))
            if path.stem in files:
                raise BadImageError(str(file), f"two images share the id {path.stem!r}")
            files[path.stem] = file
    return files


def read_groups(path: SourceFile | Path) -> dict[str, str]:
    table = pd.read_csv(io.BytesIO(file_bytes(path)), dtype=str, keep_default_na=False)
    if list(table.columns[:2]) != ["id", "group"]:
        raise MissingFilesError(f"{path}: expected the columns id,group")
    return dict(zip(table["id"], table["group"], strict=True))


class FolderAdapter(Adapter):
    """A user's own lesions: ``images/<id>.png|jpg`` with ``masks/<id>.png``, trained under
    ``protocol: paper`` as the release trained HAM10000 (one photograph, one lesion)."""

    released_code = "ham10000"

    @classmethod
    def expected_lesions(cls, settings: Mapping[str, Any]) -> int:
        images = Path(settings.get("path", "")) / "images"
        return sum(1 for _ in images.iterdir()) if images.is_dir() else 1_000

    def list_items(self, source: SourceSpec, settings: Mapping[str, Any]) -> list[FolderItem]:
        tree = SourceTree.open(source)
        absent = [f"{tree}/{d}/" for d in ("images", "masks") if d not in tree.folders()]
        if absent:
            raise MissingFilesError(
                f"folder dataset needs {', '.join(absent)} (images/<id>.png|jpg and "
                "masks/<id>.png with matching ids)"
            )
        images = _by_stem(tree, "images", IMAGE_SUFFIXES)
        masks = _by_stem(tree, "masks", (".png",))
        if not images:
            raise MissingFilesError(f"no .png/.jpg images in {tree}/images")
        groups_file = tree.get("groups.csv")
        groups = read_groups(groups_file) if groups_file is not None else {}
        return [
            FolderItem(lesion_id, groups.get(lesion_id, lesion_id),
                       images.get(lesion_id), masks.get(lesion_id))
            for lesion_id in sorted(set(images) | set(masks))
        ]

    def item_id(self, item: FolderItem) -> str:
        return item.lesion_id

    def load(self, item: FolderItem, settings: Mapping[str, Any]) -> ItemResult:
        if item.image is None:
            raise BadImageError(str(item.mask), f"no image images/{item.lesion_id}.png|jpg")
        if item.mask is None:
            raise BadImageError(str(item.image), f"no mask masks/{item.lesion_id}.png")
        paper = settings["protocol"] == PAPER
        image, patch_mask, full_mask = whole_image_patch(item.image, item.mask, released=paper)
        lesion = Lesion(item.lesion_id, item.group_id, item.image.tree_path, image,
                        patch_mask, meta={"image": item.image.name}, origin=str(item.image))
        if not paper:
            return ItemResult([lesion], [])
        return released_lesion(lesion, full_mask, full_release=False)
