"""Stage 9, the figures (rules ``figure_clusters``, ``figure_segmentations``,
``figure_training_curves``, ``figure_metric_distributions``, ``figure_comparisons``,
``figure_ablation``): the paper's cluster gallery and segmentation results, training curves,
per-lesion metric distributions, and the forest plots of the comparisons and ablations.

Each figure function takes arrays or DataFrames and returns a :class:`matplotlib.figure.Figure`
(no pyplot, so no state is shared between figures); :func:`save_figure` writes it as PNG and
PDF. :mod:`weaklesion.figures.inputs` reads the workflow's files for them.
"""

from weaklesion.figures.clusters import (
    cluster_gallery,
    ellipse_scatter,
    gallery_rows,
    pick_clusters,
    pick_members,
)
from weaklesion.figures.curves import training_curves
from weaklesion.figures.distributions import DISTRIBUTION_METRICS, metric_distributions
from weaklesion.figures.output import save_figure, write_figure
from weaklesion.figures.overlay import contour_overlay, ellipse_overlay
from weaklesion.figures.segmentations import (
    dice_scores,
    pick_lesions,
    segmentation_figure,
    selection_model,
)
from weaklesion.figures.style import order_models

__all__ = [
    "DISTRIBUTION_METRICS",
    "cluster_gallery",
    "contour_overlay",
    "dice_scores",
    "ellipse_overlay",
    "ellipse_scatter",
    "gallery_rows",
    "metric_distributions",
    "order_models",
    "pick_clusters",
    "pick_lesions",
    "pick_members",
    "save_figure",
    "segmentation_figure",
    "selection_model",
    "training_curves",
    "write_figure",
]
