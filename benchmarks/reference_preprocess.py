"""The reference code's way of preprocessing HAM10000, as the baseline of bench_preprocess.

Mimics the released code's approach, one lesion at a time in one process: read the image and
its mask from their files, resize both to 120×120, fit the ellipse to the convex hull of the
mask, draw the ellipse as a patch on a matplotlib figure saved to a PNG per lesion and read
back as the pseudo-mask, write the resized image and mask as files of their own, and finally
run k-means over the collected ellipse parameters. The archives are unpacked with
``zipfile`` first, as a user of the reference code does by hand.

This is a baseline to time, not a second implementation of the workflow: its outputs are not
used anywhere.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from sklearn.cluster import KMeans

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

PATCH = 120
DPI = 100


def unpack(archives: list[Path], dest: Path) -> None:
    for archive in archives:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(dest)


def image_mask_pairs(root: Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths in sorted image-id order, found by name as the reference did."""
    masks = {p.name[: -len("_segmentation.png")]: p
             for p in root.rglob("*_segmentation.png") if "__MACOSX" not in p.parts}
    images = sorted(p for p in root.rglob("ISIC_*.jpg") if "__MACOSX" not in p.parts)
    return [(image, masks[image.stem]) for image in images if image.stem in masks]


def fit_ellipse(mask: np.ndarray) -> tuple[float, float, float, float, float] | None:
    points = cv2.findNonZero(mask)
    if points is None:
        return None
    hull = cv2.convexHull(points)
    if len(hull) < 5:
        return None
    (cx, cy), (width, height), angle = cv2.fitEllipse(hull)
    return cx, cy, width, height, angle


def render_ellipse_png(params, path: Path) -> np.ndarray:
    """The ellipse drawn through a matplotlib figure, saved, and read back as a mask."""
    figure = plt.figure(figsize=(PATCH / DPI, PATCH / DPI), dpi=DPI)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, PATCH)
    axes.set_ylim(PATCH, 0)
    axes.axis("off")
    cx, cy, width, height, angle = params
    axes.add_patch(Ellipse((cx, cy), width, height, angle=angle, color="white"))
    figure.savefig(path, dpi=DPI, facecolor="black")
    plt.close(figure)
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 127


def preprocess_lesion(image_path: Path, mask_path: Path, out: Path):
    image = cv2.imread(str(image_path))
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    image = cv2.resize(image, (PATCH, PATCH))
    mask = cv2.resize(mask, (PATCH, PATCH))
    _, mask = cv2.threshold(mask, 127, 255, cv2.THRESH_BINARY)
    params = fit_ellipse(mask)
    if params is None:
        return None
    stem = image_path.stem
    render_ellipse_png(params, out / "ellipses" / f"{stem}.png")
    cv2.imwrite(str(out / "images" / f"{stem}.png"), image)
    cv2.imwrite(str(out / "masks" / f"{stem}.png"), mask)
    return params


def preprocess_lesions(pairs: list[tuple[Path, Path]], out: Path) -> np.ndarray:
    for folder in ("images", "masks", "ellipses"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    params = [preprocess_lesion(image, mask, out) for image, mask in pairs]
    return np.array([p for p in params if p is not None], dtype=np.float64)


def cluster(params: np.ndarray, k: int, out: Path) -> np.ndarray:
    labels = KMeans(n_clusters=k, random_state=0, n_init=10).fit(params).labels_
    np.save(out / "clusters.npy", labels)
    return labels
