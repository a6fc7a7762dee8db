"""Segmenting new lesion images of any size with a trained model (``weaklesion predict``)."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from weaklesion.datasets.imaging import read_rgb, released_resize_image, resize_image
from weaklesion.errors import BadImageError, MissingFilesError, WeaklesionError
from weaklesion.evaluation.predictor import Predictor
from weaklesion.protocols import PAPER
from weaklesion.utilities.atomic import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def image_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFilesError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise MissingFilesError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        duplicate = next(s for s in stems if stems.count(s) > 1)
        raise WeaklesionError(f"{folder}: two images share the name {duplicate!r}; their "
                              "masks would overwrite each other")
    return files


def predict_folder(predictor: Predictor, images_dir: Path, out_dir: Path,
                   batch_size: int = 32) -> list[Path]:
    """Write ``<stem>.png`` (0/255) for every image: each is resized to the 120×120 patch as
    the model's training patches were (``protocol: paper``: the released bilinear resize;
    ``corrected``: area averaging), segmented, and the probability map resized back to the
    image's own size."""
    files = image_files(images_dir)
    resize = released_resize_image if predictor.protocol == PAPER else resize_image
    # Only the patch and the size of each image are kept: whole folders of full-size
    # images would not fit in memory.
    patches, sizes, problems = [], [], []
    for path in files:
        try:
            image = read_rgb(path)
        except BadImageError as error:
            problems.append(str(error))
            continue
        patches.append(resize(image))
        sizes.append(image.shape[:2])
    if problems:
        raise BadImageError(str(images_dir), f"{len(problems)} unreadable image(s): "
                            + "; ".join(problems[:10]))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for start in tqdm(range(0, len(files), batch_size), desc="predict", unit="batch",
                      file=sys.stderr):
        chunk = slice(start, start + batch_size)
        probabilities = predictor.probabilities(np.stack(patches[chunk]), batch_size)
        for path, (height, width), probability in zip(files[chunk], sizes[chunk],
                                                      probabilities, strict=True):
            full = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)
            target = out_dir / f"{path.stem}.png"
            with atomic_path(target, suffix=".png") as tmp:
                if not cv2.imwrite(str(tmp), (full >= 0.5).astype(np.uint8) * 255):
                    raise WeaklesionError(f"could not write {target}")
            written.append(target)
    return written
