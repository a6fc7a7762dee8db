"""A small synthetic dermoscopy dataset in HAM10000's on-disk layout, for demos and tests.

The lesions are deliberately *not* ellipses — lobed, wavy outlines, sometimes two merged blobs —
on textured skin with hairs and vignetting, in varied size, colour, contrast and position, so
that the ellipse targets differ from the true masks and learning from them is not trivial.
Some lesions are photographed more than once (several images per ``lesion_id``), as in the
real data, which is what makes the paper's by-image split leak.

The output mirrors the Dataverse release — two image zips, a mask zip that unpacks into a
nested folder with a ``__MACOSX/`` tree, and the metadata csv — plus a manifest with their
sizes and MD5s, so the demo flows through the same verification and adapter code.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from weaklesion.atomic import atomic_path

IMAGE_ARCHIVES = ("HAM10000_images_part_1.zip", "HAM10000_images_part_2.zip")
MASK_ARCHIVE = "HAM10000_segmentations_lesion_tschandl.zip"
METADATA_FILE = "HAM10000_metadata.csv"
DEMO_FILES = (*IMAGE_ARCHIVES, MASK_ARCHIVE, METADATA_FILE)
FIRST_IMAGE_NUMBER = 24306  # the real release starts at ISIC_0024306

DIAGNOSES = ("nv", "mel", "bkl", "bcc", "akiec", "vasc", "df")
DIAGNOSIS_WEIGHTS = (0.67, 0.11, 0.11, 0.05, 0.03, 0.015, 0.015)
SITES = ("back", "lower extremity", "trunk", "upper extremity", "abdomen", "face", "chest")


@dataclass(frozen=True)
class LesionShape:
    """Parameters of one synthetic lesion, reused (jittered) for its repeat images."""

    cx: float
    cy: float
    radius: float
    aspect: float
    rotation: float
    harmonics: np.ndarray  # (n, 2): amplitude, phase for frequencies 2..n+1
    lobe: tuple[float, float, float] | None  # offset angle, distance, radius (× radius)
    colour: np.ndarray
    contrast: float
    edge_blur: float


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Zero-mean noise with features about ``shape / cells`` pixels wide."""
    coarse = rng.standard_normal((cells, max(2, cells * shape[1] // shape[0])))
    return cv2.resize(coarse.astype(np.float32), (shape[1], shape[0]),
                      interpolation=cv2.INTER_CUBIC)


def random_shape(rng: np.random.Generator, height: int, width: int) -> LesionShape:
    n_harmonics = 6
    amplitudes = rng.uniform(0, 0.22, n_harmonics) / np.sqrt(np.arange(1, n_harmonics + 1))
    lobe = None
    if rng.random() < 0.5:
        lobe = (rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.0), rng.uniform(0.35, 0.7))
    dark = rng.uniform(0.35, 1.0)
    colour = np.array([125, 80, 55]) * dark + rng.normal(0, 8, 3)
    if rng.random() < 0.1:  # reddish vascular lesions
        colour = np.array([165, 60, 70]) + rng.normal(0, 10, 3)
    return LesionShape(
        cx=width / 2 + rng.normal(0, width * 0.1),
        cy=height / 2 + rng.normal(0, height * 0.1),
        radius=rng.uniform(0.12, 0.4) * min(height, width),
        aspect=rng.uniform(0.6, 1.0),
        rotation=rng.uniform(0, np.pi),
        harmonics=np.column_stack([amplitudes, rng.uniform(0, 2 * np.pi, n_harmonics)]),
        lobe=lobe,
        colour=np.clip(colour, 20, 230),
        contrast=rng.uniform(0.45, 1.0),
        edge_blur=rng.uniform(0.5, 5.0),
    )


def jitter(shape: LesionShape, rng: np.random.Generator) -> LesionShape:
    """The same lesion photographed again: moved, turned, scaled and lit a little differently."""
    return LesionShape(
        cx=shape.cx + rng.normal(0, 15), cy=shape.cy + rng.normal(0, 15),
        radius=shape.radius * rng.uniform(0.9, 1.1), aspect=shape.aspect,
        rotation=shape.rotation + rng.normal(0, 0.3), harmonics=shape.harmonics,
        lobe=shape.lobe, colour=np.clip(shape.colour + rng.normal(0, 8, 3), 20, 230),
        contrast=float(np.clip(shape.contrast + rng.normal(0, 0.05), 0.4, 1.0)),
        edge_blur=shape.edge_blur,
    )


def _outline(cx, cy, radius, aspect, rotation, harmonics, n_points=360) -> np.ndarray:
    """Polygon of a lobed blob: a circle whose radius wobbles with a few harmonics."""
    theta = np.linspace(0, 2 * np.pi, n_points, endpoint=False)
    frequencies = np.arange(2, len(harmonics) + 2)[:, None]
    wobble = (harmonics[:, :1] * np.cos(frequencies * theta + harmonics[:, 1:])).sum(axis=0)
    r = radius * (1 + wobble)
    u, v = r * np.cos(theta), r * np.sin(theta) * aspect
    x = cx + u * np.cos(rotation) - v * np.sin(rotation)
    y = cy + u * np.sin(rotation) + v * np.cos(rotation)
    return np.column_stack([x, y])


def lesion_mask(shape: LesionShape, height: int, width: int) -> np.ndarray:
    outlines = [_outline(shape.cx, shape.cy, shape.radius, shape.aspect, shape.rotation,
                         shape.harmonics)]
    if shape.lobe is not None:
        angle, distance, size = shape.lobe
        outlines.append(_outline(
            shape.cx + np.cos(angle) * distance * shape.radius,
            shape.cy + np.sin(angle) * distance * shape.radius,
            size * shape.radius, 1.0, 0.0, shape.harmonics[:3] * 0.5,
        ))
    canvas = np.zeros((height, width), np.uint8)
    scale = 1 << 4  # sub-pixel vertices
    for outline in outlines:
        cv2.fillPoly(canvas, [np.round(outline * scale).astype(np.int32)], 1, cv2.LINE_8, 4)
    return canvas.astype(bool)


def render_image(shape: LesionShape, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGB uint8 dermoscopy-like image of the lesion in ``mask``."""
    height, width = mask.shape
    skin = np.array([228, 182, 158]) + rng.normal(0, 10, 3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 1 + 0.08 * ((xx / width - 0.5) * rng.normal() + (yy / height - 0.5) * rng.normal())
    texture = 1 + 0.04 * _smooth_noise(rng, (height, width), 12)
    background = skin.astype(np.float32) * (light * texture)[..., None]

    pigment = 1 + 0.25 * _smooth_noise(rng, (height, width), 20)
    lesion = shape.colour.astype(np.float32) * pigment[..., None]
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), shape.edge_blur) * shape.contrast
    image = background * (1 - alpha[..., None]) + lesion * alpha[..., None]

    for _ in range(rng.poisson(1.5) if rng.random() < 0.4 else 0):  # hairs
        start = rng.uniform([0, 0], [width, height])
        bend, end = start + rng.normal(0, 120, 2), start + rng.normal(0, 250, 2)
        t = np.linspace(0, 1, 40)[:, None]
        curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * bend + t**2 * end
        cv2.polylines(image, [curve.astype(np.int32)], False, (45, 30, 25),
                      int(rng.integers(1, 3)), cv2.LINE_AA)
    if rng.random() < 0.4:  # dermatoscope vignette
        radius = np.hypot(xx - width / 2, yy - height / 2) / (0.5 * np.hypot(width, height))
        image *= np.clip(1.6 - radius * 1.2, 0, 1)[..., None] ** 2
    image += 3 * rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def _jpeg(image_rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def _png(mask: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    assert ok
    return data.tobytes()


def write_demo_dataset(out_dir: Path, *, n_images: int = 300, repeat_fraction: float = 0.25,
                       width: int = 600, height: int = 450, seed: int = 0) -> Path:
    """Write the demo's archives, metadata csv and ``manifest.tsv`` into ``out_dir``.

    Returns the manifest path. Deterministic for a given seed.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images: list[tuple[str, bytes, bytes]] = []
    rows = []
    lesion_number = 0
    while len(images) < n_images:
        shape = random_shape(rng, height, width)
        lesion_id = f"HAM_{lesion_number:07d}"
        lesion_number += 1
        dx = rng.choice(DIAGNOSES, p=DIAGNOSIS_WEIGHTS)
        views = 1 + (rng.integers(1, 3) if rng.random() < repeat_fraction else 0)
        for view in range(min(views, n_images - len(images))):
            view_shape = shape if view == 0 else jitter(shape, rng)
            mask = lesion_mask(view_shape, height, width)
            image_id = f"ISIC_{FIRST_IMAGE_NUMBER + len(images):07d}"
            images.append((image_id, _jpeg(render_image(view_shape, mask, rng)), _png(mask)))
            rows.append({
                "lesion_id": lesion_id, "image_id": image_id, "dx": dx,
                "dx_type": rng.choice(["histo", "follow_up", "consensus"]),
                "age": float(rng.integers(1, 18) * 5), "sex": rng.choice(["male", "female"]),
                "localization": rng.choice(SITES), "dataset": "weaklesion_demo",
            })

    half = (len(images) + 1) // 2
    contents = {
        IMAGE_ARCHIVES[0]: [(f"{i}.jpg", jpg) for i, jpg, _ in images[:half]],
        IMAGE_ARCHIVES[1]: [(f"{i}.jpg", jpg) for i, jpg, _ in images[half:]],
        # The real mask archive nests its folder and carries macOS resource-fork stubs.
        MASK_ARCHIVE: [
            entry for i, _, png in images for entry in (
                (f"HAM10000_segmentations_lesion_tschandl/{i}_segmentation.png", png),
                (f"__MACOSX/HAM10000_segmentations_lesion_tschandl/._{i}_segmentation.png",
                 b"\x00\x05\x16\x07stub"),
            )
        ],
    }
    for name, members in contents.items():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for member, data in members:
                info = zipfile.ZipInfo(member, date_time=(2018, 6, 1, 0, 0, 0))
                archive.writestr(info, data)
        _write_bytes(out_dir / name, buffer.getvalue())
    _write_bytes(out_dir / METADATA_FILE, pd.DataFrame(rows).to_csv(index=False).encode())

    manifest = pd.DataFrame([
        {"name": name, "size": (out_dir / name).stat().st_size,
         "md5": hashlib.md5((out_dir / name).read_bytes()).hexdigest(), "url": ""}
        for name in DEMO_FILES
    ])
    manifest_path = out_dir / "manifest.tsv"
    with atomic_path(manifest_path) as tmp:
        manifest.to_csv(tmp, sep="\t", index=False)
    return manifest_path


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
