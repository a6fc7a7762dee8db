"""Reading 2-D images and masks, and reducing them to the 120×120 patch, for every format."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from weaklesion import PATCH_SIZE
from weaklesion.errors import BadImageError


def read_rgb(path: Path) -> np.ndarray:
    """An 8-bit colour image as RGB (grey images are replicated to three channels)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise BadImageError(str(path), "cannot be read or decoded as an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_binary_mask(path: Path) -> np.ndarray:
    """A mask as bool. Accepts 0/255 or 0/1, grey, RGB(A) or palette PNGs, 8 or 16 bit.

    Anything above half the largest value is foreground; other values are refused rather
    than guessed at, since a label map with several classes is not a lesion mask.
    """
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise BadImageError(str(path), "cannot be read or decoded as a mask")
    if raw.ndim == 3:
        colour = raw[..., :3]
        if not (colour == colour[..., :1]).all():
            raise BadImageError(str(path), "mask has colours; expected grey 0/255 or 0/1")
        raw = colour[..., 0]
    values = np.unique(raw)
    if values.size > 2 or (values.size == 2 and values[0] != 0):
        shown = ", ".join(str(v) for v in values[:6])
        raise BadImageError(str(path), f"mask is not binary (values {shown}...)")
    return raw > 0


def resize_image(image: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def resize_mask(mask: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    """Area-average the mask and keep pixels at least half covered."""
    coverage = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return coverage >= 0.5


def whole_image_patch(image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Image and mask resized whole to the patch size (HAM10000 and folder datasets)."""
    image = read_rgb(image_path)
    mask = read_binary_mask(mask_path)
    if mask.shape != image.shape[:2]:
        raise BadImageError(
            str(mask_path), f"mask is {mask.shape[1]}×{mask.shape[0]} but its image "
            f"{image_path.name} is {image.shape[1]}×{image.shape[0]}"
        )
    patch_mask = resize_mask(mask)
    if not patch_mask.any():
        raise BadImageError(str(mask_path), "mask is empty")
    return resize_image(image), patch_mask
