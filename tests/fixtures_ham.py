"""A tiny HAM10000 copy in the Dataverse release's unpacked layout: real JPEGs, PNG masks, csv.

Layout under the root, as a user gets it by unzipping each archive into a folder of its name::

    HAM10000_images_part_1/ISIC_0024306.jpg ...          (first half of the images)
    HAM10000_images_part_2/ISIC_00243xx.jpg ...          (second half)
    HAM10000_segmentations_lesion_tschandl/
        HAM10000_segmentations_lesion_tschandl/ISIC_0024306_segmentation.png ...   (0/255)
        __MACOSX/HAM10000_segmentations_lesion_tschandl/._ISIC_0024306_segmentation.png ...
    HAM10000_metadata.csv   (the real columns, rows ordered by lesion_id as in the release)

Each lesion is an axis-aligned ellipse of known geometry (pixel centres inside), darker than
reddish skin, so a test can tell RGB from BGR and predict the fitted ellipse; lesions are
alternately wide and tall. Lesions cycle
through 1, 2, 1, 3 images, and the images of one lesion are not neighbours in id order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

IMAGE_DIRS = ("HAM10000_images_part_1", "HAM10000_images_part_2")
MASK_DIR = "HAM10000_segmentations_lesion_tschandl"
METADATA_FILE = "HAM10000_metadata.csv"
METADATA_COLUMNS = (
    "lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization", "dataset",
)  # fmt: skip
FIRST_IMAGE_NUMBER = 24306
WIDTH, HEIGHT = 160, 120  # 4:3 like the real 600×450; resizing to 120×120 keeps the rows
SKIN_RGB = (224, 176, 150)
IMAGES_PER_LESION = (1, 2, 1, 3)
MACOS_STUB = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "


@dataclass(frozen=True)
class FixtureImage:
    """One image of the fixture and the geometry of its lesion (image pixels, x right)."""

    image_id: str
    lesion_id: str
    part: int  # 1 or 2: which images folder
    centre: tuple[float, float]  # (x, y)
    semi_axes: tuple[float, float]  # along x, along y
    lesion_rgb: tuple[int, int, int]
    metadata: dict[str, str]

    def mask(self, shape: tuple[int, int] = (HEIGHT, WIDTH)) -> np.ndarray:
        return ellipse_mask(shape, self.centre, self.semi_axes)

    def image_path(self, root: Path) -> Path:
        return Path(root) / IMAGE_DIRS[self.part - 1] / f"{self.image_id}.jpg"

    def mask_path(self, root: Path) -> Path:
        return Path(root) / MASK_DIR / MASK_DIR / f"{self.image_id}_segmentation.png"


def ellipse_mask(
    shape: tuple[int, int], centre: tuple[float, float], semi_axes: tuple[float, float]
) -> np.ndarray:
    """Axis-aligned filled ellipse: pixels whose centres satisfy the ellipse inequality."""
    ys, xs = np.indices(shape)
    (cx, cy), (ax, ay) = centre, semi_axes
    return ((xs - cx) / ax) ** 2 + ((ys - cy) / ay) ** 2 <= 1


def lesion_image(
    mask: np.ndarray, lesion_rgb: tuple[int, int, int], rng: np.random.Generator
) -> np.ndarray:
    """RGB uint8: noisy skin with the lesion painted in ``lesion_rgb``."""
    image = np.empty((*mask.shape, 3), dtype=np.float32)
    image[:] = SKIN_RGB
    image[mask] = lesion_rgb
    image += rng.normal(0, 4, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def write_jpeg(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                     [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok, path
    return path


def write_png(path: Path, values: np.ndarray) -> Path:
    """Write an 8-bit (or 16-bit) grey or BGR array as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), values), path
    return path


def write_mask(path: Path, mask: np.ndarray, foreground: int = 255) -> Path:
    return write_png(path, mask.astype(np.uint8) * np.uint8(foreground))


def _lesion_ids(n_images: int, rng: np.random.Generator) -> list[str]:
    """Lesion id of each image, in image order: groups of 1, 2, 1, 3 … scattered over ids."""
    slots: list[int] = []
    lesion = 0
    while len(slots) < n_images:
        slots += [lesion] * IMAGES_PER_LESION[lesion % len(IMAGES_PER_LESION)]
        lesion += 1
    slots = slots[:n_images]
    rng.shuffle(slots)
    numbers = rng.choice(np.arange(1, 7500), size=max(slots) + 1, replace=False)
    return [f"HAM_{numbers[s]:07d}" for s in slots]


def write_ham_fixture(
    root: Path, n_images: int = 6, *, width: int = WIDTH, height: int = HEIGHT, seed: int = 0
) -> list[FixtureImage]:
    """Write ``n_images`` images with masks, stubs and metadata under ``root``.

    Returns the images sorted by image_id (the order the adapter must produce).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    lesion_ids = _lesion_ids(n_images, rng)
    half = (n_images + 1) // 2
    images = []
    for index, lesion_id in enumerate(lesion_ids):
        # Alternately wide and tall, short/long ≤ 0.6 once resized, so the angle is defined.
        long_axis, short_axis = rng.uniform(0.3, 0.38), rng.uniform(0.12, 0.15)
        if index % 2:
            semi_axes = (short_axis * width, long_axis * height)
        else:
            semi_axes = (long_axis * 0.8 * width, short_axis * height)
        centre = (
            float(np.round(width / 2 + rng.uniform(-0.05, 0.05) * width, 1)),
            float(np.round(height / 2 + rng.uniform(-0.05, 0.05) * height, 1)),
        )
        lesion_rgb = tuple(int(v) for v in rng.integers([70, 40, 25], [140, 90, 60]))
        image_id = f"ISIC_{FIRST_IMAGE_NUMBER + index:07d}"
        metadata = {
            "lesion_id": lesion_id, "image_id": image_id,
            "dx": str(rng.choice(["nv", "mel", "bkl"])),
            "dx_type": str(rng.choice(["histo", "follow_up", "consensus"])),
            "age": f"{float(rng.integers(2, 17) * 5):.1f}",
            "sex": str(rng.choice(["male", "female"])),
            "localization": str(rng.choice(["back", "trunk", "face"])),
            "dataset": str(rng.choice(["vidir_modern", "rosendahl", "vidir_molemax"])),
        }  # fmt: skip
        image = FixtureImage(image_id, lesion_id, 1 if index < half else 2, centre, semi_axes,
                             lesion_rgb, metadata)
        mask = image.mask((height, width))
        write_jpeg(image.image_path(root), lesion_image(mask, lesion_rgb, rng))
        write_mask(image.mask_path(root), mask)
        stub = root / MASK_DIR / "__MACOSX" / MASK_DIR / f"._{image_id}_segmentation.png"
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_bytes(MACOS_STUB)
        images.append(image)
    rows = sorted((image.metadata for image in images), key=lambda r: (r["lesion_id"],
                                                                        r["image_id"]))
    pd.DataFrame(rows, columns=list(METADATA_COLUMNS)).to_csv(root / METADATA_FILE, index=False)
    return images


def patch_ellipse(
    image: FixtureImage, width: int = WIDTH, height: int = HEIGHT, size: int = 120
) -> tuple[float, float, float, float]:
    """(cx, cy, x-axis length, y-axis length) of the lesion once the image is resized to
    ``size``×``size``: pixel centres map as ``(x + 0.5) * scale - 0.5``."""
    sx, sy = size / width, size / height
    (cx, cy), (ax, ay) = image.centre, image.semi_axes
    return (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5, 2 * ax * sx, 2 * ay * sy
