"""The cluster gallery (the paper's figure of ellipse clusters) and a scatter of the ellipse
parameters coloured by cluster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from weaklesion.ellipses.fitting import ELLIPSE_COLUMNS
from weaklesion.errors import WeaklesionError
from weaklesion.figures.overlay import blank_tile, ellipse_overlay, show_tile
from weaklesion.figures.style import ELLIPSE_RGB, new_figure

GALLERY_ROWS = 6
GALLERY_COLUMNS = 4
SELECTIONS = ("spread", "largest")
_CYCLE = 20  # colours of the qualitative colour map; clusters beyond it repeat colours


@dataclass(frozen=True)
class GalleryRow:
    cluster: int
    size: int
    members: np.ndarray  # row indices of the lesions shown


def _check(ellipses: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ellipses = np.asarray(ellipses, dtype=np.float64)
    clusters = np.asarray(clusters, dtype=np.int64)
    if ellipses.ndim != 2 or ellipses.shape[1] != len(ELLIPSE_COLUMNS):
        raise WeaklesionError(f"ellipses must be (N, 5) {ELLIPSE_COLUMNS}, got {ellipses.shape}")
    if len(clusters) != len(ellipses):
        raise WeaklesionError(f"{len(clusters)} cluster labels for {len(ellipses)} ellipses")
    if not len(ellipses):
        raise WeaklesionError("no lesions: nothing to draw")
    return ellipses, clusters


def pick_clusters(ellipses: np.ndarray, clusters: np.ndarray, n: int = GALLERY_ROWS,
                  how: str = "spread") -> list[int]:
    """Cluster ids to show, in ascending order of their mean ellipse area.

    ``spread`` takes clusters evenly spaced in that order, from the smallest lesions to the
    largest; ``largest`` takes the most populated clusters (ties: lower id first).
    """
    ellipses, clusters = _check(ellipses, clusters)
    ids, inverse, sizes = np.unique(clusters, return_inverse=True, return_counts=True)
    mean_area = np.bincount(inverse, weights=ellipses[:, 2] * ellipses[:, 3]) / sizes
    by_area = ids[np.lexsort((ids, mean_area))]
    if how == "spread":
        chosen = set(by_area[np.unique(np.linspace(0, len(ids) - 1, min(n, len(ids)))
                                       .round().astype(int))].tolist())
    elif how == "largest":
        chosen = set(ids[np.lexsort((ids, -sizes))][:n].tolist())
    else:
        raise WeaklesionError(f"cluster selection {how!r} is not one of {list(SELECTIONS)}")
    return [int(c) for c in by_area if c in chosen]


def pick_members(ellipses: np.ndarray, clusters: np.ndarray, cluster: int,
                 n: int = GALLERY_COLUMNS) -> np.ndarray:
    """Row indices of up to ``n`` members of ``cluster`` closest to the cluster's mean ellipse
    (in the raw parameters, as k-means measured them): the cluster's typical lesions."""
    ellipses, clusters = _check(ellipses, clusters)
    members = np.flatnonzero(clusters == cluster)
    distance = np.linalg.norm(ellipses[members] - ellipses[members].mean(axis=0), axis=1)
    return members[np.lexsort((members, distance))][:n]


def gallery_rows(ellipses: np.ndarray, clusters: np.ndarray, rows: int = GALLERY_ROWS,
                 per_row: int = GALLERY_COLUMNS, how: str = "spread") -> list[GalleryRow]:
    """What the gallery shows: clusters as rows, each with its size and member lesions."""
    ellipses, clusters = _check(ellipses, clusters)
    return [GalleryRow(c, int((clusters == c).sum()), pick_members(ellipses, clusters, c,
                                                                   per_row))
            for c in pick_clusters(ellipses, clusters, rows, how)]


def cluster_gallery(images, ellipses: np.ndarray, clusters: np.ndarray, *,
                    lesion_ids: Sequence[str] | None = None, rows: int = GALLERY_ROWS,
                    per_row: int = GALLERY_COLUMNS, how: str = "spread",
                    title: str | None = None) -> Figure:
    """Clusters as rows, member lesions with their ellipse drawn over them as columns.

    ``images`` is anything indexable by row that gives (120, 120, 3) uint8 patches: an array,
    or an open h5py dataset, so only the shown patches are read.
    """
    ellipses, clusters = _check(ellipses, clusters)
    if rows < 1 or per_row < 1:
        raise WeaklesionError(f"the gallery needs at least one row and column, got "
                              f"{rows} × {per_row}")
    selection = gallery_rows(ellipses, clusters, rows, per_row, how)
    k = len(np.unique(clusters))
    fig = new_figure(1.35 * per_row + 0.9, 1.45 * len(selection) + 0.7)
    axes = fig.subplots(len(selection), per_row, squeeze=False)
    for row, shown in zip(axes, selection, strict=True):
        for column, ax in enumerate(row):
            if column >= len(shown.members):
                blank_tile(ax)
                continue
            index = int(shown.members[column])
            show_tile(ax, ellipse_overlay(images[index], ellipses[index], colour=ELLIPSE_RGB))
            if lesion_ids is not None:
                ax.set_xlabel(str(lesion_ids[index]), fontsize=6)
        row[0].set_ylabel(f"cluster {shown.cluster}\nn = {shown.size}", fontsize=9)
    heading = f"{len(selection)} of {k} ellipse clusters, lesions nearest each cluster's mean"
    fig.suptitle(f"{title}: {heading}" if title else heading, fontsize=10)
    return fig


def cluster_colours(clusters: np.ndarray) -> np.ndarray:
    """(N, 4) RGBA per lesion: tab20's ten strong colours first, then its ten light ones, so
    that neighbouring cluster ids differ clearly; beyond 20 clusters colours repeat."""
    palette = np.array(colormaps["tab20"].colors)
    order = np.r_[0:_CYCLE:2, 1:_CYCLE:2]
    rgb = palette[order][np.asarray(clusters, dtype=np.int64) % _CYCLE]
    return np.column_stack([rgb, np.ones(len(rgb))])


def ellipse_scatter(ellipses: np.ndarray, clusters: np.ndarray, *,
                    title: str | None = None) -> Figure:
    """The five ellipse parameters in three panels, one point per lesion coloured by cluster,
    each cluster's mean marked ×."""
    ellipses, clusters = _check(ellipses, clusters)
    cx, cy, width, height, angle = ellipses.T
    elongation = np.maximum(width, height) / np.maximum(np.minimum(width, height), 1e-6)
    ids, inverse, sizes = np.unique(clusters, return_inverse=True, return_counts=True)
    means = np.stack([np.bincount(inverse, weights=column) for column in ellipses.T],
                     axis=1) / sizes[:, None]
    mean_elongation = (np.maximum(means[:, 2], means[:, 3])
                       / np.maximum(np.minimum(means[:, 2], means[:, 3]), 1e-6))
    panels = (
        (cx, cy, means[:, 0], means[:, 1], "centre x (px)", "centre y (px)"),
        (width, height, means[:, 2], means[:, 3], "width (px)", "height (px)"),
        (angle, elongation, means[:, 4], mean_elongation,
         "angle (degrees, clockwise)", "elongation (long / short axis)"),
    )
    colour = cluster_colours(clusters)
    size = float(np.clip(2000 / len(ellipses), 2, 20))  # fewer lesions, larger points
    fig = new_figure(12, 4.2)
    for ax, (x, y, mean_x, mean_y, xlabel, ylabel) in zip(fig.subplots(1, 3), panels,
                                                          strict=True):
        # Rasterised points keep the PDF small with tens of thousands of lesions.
        ax.scatter(x, y, c=colour, s=size, alpha=0.7, linewidths=0, rasterized=True)
        ax.scatter(mean_x, mean_y, marker="x", c="black", s=14, linewidths=0.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    centre_ax = fig.axes[0]
    centre_ax.set_aspect("equal", adjustable="datalim")
    centre_ax.invert_yaxis()  # image coordinates: y grows downwards
    fig.axes[1].set_aspect("equal", adjustable="datalim")
    heading = (f"ellipse parameters of {len(ellipses)} lesions, colour = cluster "
               f"(k = {len(ids)}{', colours repeat' if len(ids) > _CYCLE else ''}), "
               "× = cluster mean")
    fig.suptitle(f"{title}: {heading}" if title else heading, fontsize=10)
    return fig
