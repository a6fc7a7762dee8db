"""``lesions.csv``, the table of a ``recist`` dataset: one row per lesion, its image and its
RECIST marks, and what ``python -m weaklesion recist-from-masks`` writes for lesions that
have masks.

Columns: ``id``, ``image`` (a path relative to the table's folder), the long axis's end
points ``x1,y1,x2,y2`` and the short axis's ``x3,y3,x4,y4`` in pixels of the image (x = column,
y = row, origin at the top-left pixel's centre, as DeepLesion's ``Measurement_coordinates``),
and, from masks, ``mask`` (the mask the marks were measured on, relative like ``image``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from weaklesion.datasets.imaging import check_name_is_utf8, read_binary_mask
from weaklesion.ellipses.recist_marks import MARK_COLUMNS, EmptyMaskError, recist_from_mask
from weaklesion.errors import BadImageError, MissingFilesError
from weaklesion.utilities.atomic import atomic_path

MASK_SUFFIXES = (".png",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".nii", ".nii.gz")
"""The image kinds a ``recist`` dataset reads, matched to a mask by the file's stem."""
COORDINATE_DECIMALS = 3


def file_id(path: Path, suffixes: Sequence[str]) -> str | None:
    """The file's name without the first of ``suffixes`` it ends with (case-insensitive);
    None for another kind of file or a hidden one."""
    name = path.name
    if name.startswith("."):
        return None
    for suffix in suffixes:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return None


def files_by_id(folder: Path, suffixes: Sequence[str]) -> dict[str, Path]:
    """The files of ``folder`` with one of ``suffixes``, by id; two files of one id are an
    error naming both."""
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        lesion_id = file_id(path, suffixes) if path.is_file() else None
        if lesion_id is None:
            continue
        check_name_is_utf8(path)
        if lesion_id in files:
            raise BadImageError(str(path), f"another file has the id {lesion_id!r}: "
                                           f"{files[lesion_id]}")
        files[lesion_id] = path
    return files


def lesions_from_masks(masks_dir: str | os.PathLike, out_csv: str | os.PathLike,
                       images_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Measure every ``<id>.png`` mask of ``masks_dir`` (:func:`recist_from_mask`) and write
    ``lesions.csv`` rows for them: the image of the same id in ``images_dir`` (default: the
    ``images`` folder beside ``masks_dir``, as a ``folder`` dataset lays them out), the mask,
    and the marks. Every mask needs its image; an empty mask, an unreadable one or an image
    missing is an error naming the file, and nothing is written."""
    masks_dir, out_csv = Path(masks_dir), Path(out_csv)
    if not masks_dir.is_dir():
        raise MissingFilesError(f"{masks_dir}: no such folder of masks")
    images_dir = Path(images_dir) if images_dir is not None else masks_dir.parent / "images"
    if not images_dir.is_dir():
        raise MissingFilesError(f"{images_dir}: no such folder of images (pass --images)")
    masks = files_by_id(masks_dir, MASK_SUFFIXES)
    if not masks:
        raise MissingFilesError(f"{masks_dir}: no <id>.png masks in it")
    images = files_by_id(images_dir, IMAGE_SUFFIXES)
    missing = [lesion_id for lesion_id in masks if lesion_id not in images]
    if missing:
        raise MissingFilesError(
            f"{images_dir}: no image for the masks {', '.join(map(repr, missing[:5]))}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            + f" (looked for <id> with {', '.join(IMAGE_SUFFIXES)})")
    base = out_csv.resolve().parent
    rows = []
    for lesion_id, mask_path in tqdm(masks.items(), desc="measure", unit="mask"):
        try:
            marks = recist_from_mask(read_binary_mask(mask_path))
        except EmptyMaskError:
            raise BadImageError(str(mask_path), "mask is empty: no lesion to measure") from None
        rows.append({"id": lesion_id, "image": _relative(images[lesion_id], base),
                     "mask": _relative(mask_path, base), **marks._asdict()})
    table = pd.DataFrame(rows, columns=["id", "image", "mask", *MARK_COLUMNS])
    table[MARK_COLUMNS] = table[MARK_COLUMNS].round(COORDINATE_DECIMALS)
    with atomic_path(out_csv, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return table


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path.resolve(), base)).as_posix()
