"""The paper's segmentation figure: test lesions as columns; rows show the image, the
reference contour, the ellipse target contour and each model's predicted contour."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from weaklesion.errors import WeaklesionError
from weaklesion.figures.overlay import annotate, as_rgb, contour_overlay, enlarge, show_tile
from weaklesion.figures.style import (
    ELLIPSE_RGB,
    REFERENCE_RGB,
    model_contour_rgb,
    new_figure,
    order_models,
)

SEGMENTATION_COLUMNS = 5


def dice_scores(reference: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Dice in percent per lesion of two (N, H, W) mask stacks; NaN where the reference is
    empty (such a lesion has nothing to score, as in :mod:`weaklesion.evaluation.metrics`)."""
    reference = np.asarray(reference, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    if reference.shape != predicted.shape:
        raise WeaklesionError(f"reference masks {reference.shape} and predictions "
                              f"{predicted.shape} differ in shape")
    overlap = np.count_nonzero(reference & predicted, axis=(1, 2))
    total = np.count_nonzero(reference, axis=(1, 2)) + np.count_nonzero(predicted, axis=(1, 2))
    has_reference = reference.any(axis=(1, 2))
    return np.where(has_reference, 200 * overlap / np.maximum(total, 1), np.nan)


def pick_lesions(scores: np.ndarray, n: int = SEGMENTATION_COLUMNS) -> np.ndarray:
    """Indices of ``n`` lesions evenly spaced in the ranking by ``scores``, best first, so that
    good and bad cases both show; NaN scores are skipped, ties go to the lower index."""
    scores = np.asarray(scores, dtype=np.float64)
    valid = np.flatnonzero(np.isfinite(scores))
    if not len(valid) or n < 1:
        return np.array([], dtype=np.int64)
    ranked = valid[np.lexsort((valid, -scores[valid]))]
    return ranked[np.unique(np.linspace(0, len(ranked) - 1, min(n, len(ranked)))
                            .round().astype(int))]


def selection_model(models: Sequence[str]) -> str:
    """The model whose Dice orders the columns: A1 (the baseline) where it was trained."""
    ordered = order_models(models)
    if not ordered:
        raise WeaklesionError("no model predictions given: nothing to choose lesions by")
    return "A1" if "A1" in ordered else ordered[0]


def segmentation_figure(images: np.ndarray, reference: np.ndarray, ellipse_masks: np.ndarray,
                        predictions: Mapping[str, np.ndarray], *,
                        lesion_ids: Sequence[str] | None = None,
                        reference_label: str = "ground truth",
                        ordered_by: str | None = None, title: str | None = None) -> Figure:
    """One column per lesion given (in the order given); rows: image, reference contour,
    ellipse target contour, then one row per model in the paper's order (A1, ACoseg, A1+L,
    others after), each annotated with its Dice against the reference.

    ``images`` (N, H, W, 3) uint8; ``reference``, ``ellipse_masks`` and each prediction
    (N, H, W) masks of the same lesions. Models absent from ``predictions`` get no row.
    ``ordered_by`` names the model whose Dice ordered the columns, for the heading.
    """
    images = np.asarray(images)
    reference = np.asarray(reference, dtype=bool)
    ellipse_masks = np.asarray(ellipse_masks, dtype=bool)
    n = len(images)
    if n == 0:
        raise WeaklesionError("no lesions to show")
    masks = {"reference": reference, "ellipse target": ellipse_masks,
             **{f"{m} prediction": np.asarray(p, dtype=bool) for m, p in predictions.items()}}
    for name, stack in masks.items():
        if stack.shape != (n, *images.shape[1:3]):
            raise WeaklesionError(f"{name} masks have shape {stack.shape}, expected "
                                  f"{(n, *images.shape[1:3])} to match the images")
    models = order_models(predictions)
    colours = model_contour_rgb(models)
    rows: list[tuple[str, list[np.ndarray], np.ndarray | None]] = [
        ("image", [enlarge(as_rgb(image)) for image in images], None),
        (reference_label, [contour_overlay(im, m, colour=REFERENCE_RGB)
                           for im, m in zip(images, reference, strict=True)], None),
        ("ellipse target", [contour_overlay(im, m, colour=ELLIPSE_RGB)
                            for im, m in zip(images, ellipse_masks, strict=True)],
         dice_scores(reference, ellipse_masks)),
    ]
    for model in models:
        predicted = np.asarray(predictions[model], dtype=bool)
        rows.append((model, [contour_overlay(im, m, colour=colours[model])
                             for im, m in zip(images, predicted, strict=True)],
                     dice_scores(reference, predicted)))

    fig = new_figure(1.5 * n + 1.0, 1.5 * len(rows) + 0.7)
    axes = fig.subplots(len(rows), n, squeeze=False)
    for ax_row, (label, tiles, dice) in zip(axes, rows, strict=True):
        for column, (ax, tile) in enumerate(zip(ax_row, tiles, strict=True)):
            show_tile(ax, tile)
            if dice is not None:
                annotate(ax, "Dice n/a" if np.isnan(dice[column]) else
                         f"Dice {dice[column]:.1f}")
        ax_row[0].set_ylabel(label, fontsize=9)
    if lesion_ids is not None:
        for ax, lesion_id in zip(axes[0], lesion_ids, strict=True):
            ax.set_title(str(lesion_id), fontsize=7)
    heading = (f"test lesions{f' by {ordered_by} Dice, best first' if ordered_by else ''}; "
               f"Dice against the {reference_label}")
    fig.suptitle(f"{title}: {heading}" if title else heading, fontsize=10)
    return fig
