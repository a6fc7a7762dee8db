"""Reading 2-D images and masks, and reducing them to the 120×120 patch, for every format."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from weaklesion import PATCH_SIZE
from weaklesion.errors import BadImageError
from weaklesion.raw.sources import SourceFile, read_bytes


def file_bytes(file: SourceFile | str | Path) -> bytes:
    """The content of a dataset's file (:mod:`weaklesion.raw.sources`) or of a path on disk;
    BadImageError naming it when it cannot be read."""
    if not isinstance(file, SourceFile):
        file = SourceFile(str(file), None, str(file))
    return read_bytes(file)


def read_rgb(path: SourceFile | Path) -> np.ndarray:
    """An 8-bit colour image as RGB (grey images are replicated to three channels)."""
    data = file_bytes(path)
    image = _quiet_decode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise BadImageError(str(path), "cannot be read or decoded as an image")
    if data.startswith(_JPEG_START) and not _jpeg_is_complete(data):
        raise BadImageError(str(path), "JPEG is truncated (no end-of-image marker); the file "
                            "is incomplete, e.g. from an interrupted download or unzip")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


_JPEG_START = b"\xff\xd8"
_JPEG_END, _JPEG_SCAN = 0xD9, 0xDA


def _jpeg_is_complete(data: bytes) -> bool:
    """Whether the JPEG's segments and scans run through to its end-of-image marker.

    libjpeg decodes a cut-off JPEG with grey fill and only a warning on stderr, so OpenCV
    hands back an image; walking the markers tells. Bytes after the end marker are allowed.
    """
    position = len(_JPEG_START)
    while position + 1 < len(data):
        if data[position] != 0xFF:
            return False
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == _JPEG_END:
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            position += 2
            continue
        if position + 4 > len(data):
            return False
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == _JPEG_SCAN:
            # Entropy-coded data: 0xFF is followed by 0x00 (stuffing) or a restart marker
            # inside it; anything else is the next marker.
            while True:
                position = data.find(b"\xff", position)
                if position < 0 or position + 1 >= len(data):
                    return False
                following = data[position + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    position += 2
                elif following == 0xFF:
                    position += 1
                else:
                    break
    return False


def check_name_is_utf8(path: Path) -> None:
    """BadImageError unless ``path`` is valid UTF-8: ids and paths are stored as UTF-8 text.

    Linux hands back other bytes (Latin-1 names from an old zip or a Windows share) as lone
    surrogates, which data.h5 and every CSV would refuse halfway through writing.
    """
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise BadImageError(shown, "file name is not valid UTF-8; rename the file") from None


def read_binary_mask(path: SourceFile | str | Path) -> np.ndarray:
    """A mask as bool: grey, or colour with equal channels (alpha opaque or equal to them),
    holding 0/255 or 0/1 (16-bit masks may use 0/65535).

    Anything else is refused rather than guessed at: a label map with several classes or a
    soft probability map is not a lesion mask.
    """
    # Decoding from bytes also works for paths OpenCV cannot open (non-ASCII on Windows).
    data = np.frombuffer(file_bytes(path), dtype=np.uint8)
    if not data.size:
        raise BadImageError(str(path), "is an empty file")
    image = _quiet_decode(data)
    if image is None:
        raise BadImageError(str(path), "is not a readable image (corrupt or truncated?)")
    if image.ndim == 3:
        image = _grey_from_colour(image, path)
    mask = image != 0
    if not _is_binary(image, mask):
        raise BadImageError(
            str(path), f"mask is not binary: values must be 0/255 or 0/1, found "
            f"{_describe(np.unique(image).tolist())} (16-bit masks may use 0/65535)"
        )
    return mask


_MASK_FOREGROUNDS = (1, 255, 65535)


def _is_binary(image: np.ndarray, foreground: np.ndarray) -> bool:
    """Whether every non-zero pixel holds the same allowed foreground value.

    Faster than listing the distinct values (np.unique) on every mask of a dataset.
    """
    top = image.max()  # the one value a binary mask's foreground can hold
    if top == 0:
        return not foreground.any()  # all zero, or negative values
    return top in _MASK_FOREGROUNDS and bool(((image == top) == foreground).all())


def _quiet_decode(data: np.ndarray, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray | None:
    # OpenCV logs its own warnings for a broken file; the BadImageError raised says it all.
    # It raises, rather than returns None, for a header claiming over 2**30 pixels.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(data, flags)
    except cv2.error:
        return None
    finally:
        cv2.utils.logging.setLogLevel(level)


def _grey_from_colour(image: np.ndarray, path: str | Path) -> np.ndarray:
    channels = image.shape[2]
    colour = image[:, :, : min(channels, 3)]
    if not (colour == colour[:, :, :1]).all():
        raise BadImageError(
            str(path), f"mask has colours ({channels} channels that differ); save it as grey"
        )
    if channels == 4:
        alpha = image[:, :, 3]
        opaque = np.iinfo(image.dtype).max
        if not ((alpha == opaque).all() or (alpha == colour[:, :, 0]).all()):
            raise BadImageError(
                str(path), "RGBA mask with a partly transparent alpha channel; save it as grey"
            )
    return colour[:, :, 0]


def _describe(values: list[int]) -> str:
    shown = ", ".join(str(v) for v in values[:10])
    return shown + (f", … ({len(values)} distinct values)" if len(values) > 10 else "")


def resize_image(image: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def resize_mask(mask: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    """Area-average the mask and keep pixels at least half covered."""
    coverage = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return coverage >= 0.5


def released_resize_image(image: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    """The released loader's image resize, albumentations' ``Resize``: bilinear (PROTOCOL
    item 7). It aliases fine texture that area averaging keeps."""
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)


def released_resize_mask(mask: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    """The released loader's mask resize: nearest neighbour, which samples source pixel
    ``floor(i · H / size)`` rather than the pixel centre, so the mask moves by up to half a
    source pixel (+0.4 px on HAM10000's GT centres)."""
    return cv2.resize(mask.astype(np.uint8), (size, size),
                      interpolation=cv2.INTER_NEAREST).astype(bool)


def whole_image_patch(image_path: SourceFile | Path, mask_path: SourceFile | Path, *,
                      released: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image and mask resized whole to the patch size (HAM10000 and folder datasets), and the
    full-size mask. ``released``: resized as the paper's loader did (bilinear image, nearest
    mask) instead of by area."""
    image = read_rgb(image_path)
    mask = read_binary_mask(mask_path)
    if mask.shape != image.shape[:2]:
        raise BadImageError(
            str(mask_path), f"mask is {mask.shape[1]}×{mask.shape[0]} but its image "
            f"{image_path.name} is {image.shape[1]}×{image.shape[0]}"
        )
    if released:
        patch, patch_mask = released_resize_image(image), released_resize_mask(mask)
    else:
        patch, patch_mask = resize_image(image), resize_mask(mask)
    if not patch_mask.any():
        raise BadImageError(str(mask_path), "mask is empty")
    return patch, patch_mask, mask
