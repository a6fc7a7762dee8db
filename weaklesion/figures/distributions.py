"""Per-lesion metric distributions: one box per model and seed, with every lesion as a point."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from weaklesion.errors import WeaklesionError
from weaklesion.figures.style import model_colours, new_figure, order_models

DISTRIBUTION_METRICS = ("dice", "hausdorff")
AXIS_LABELS = {
    "iou": "IoU (%)",
    "dice": "Dice (%)",
    "vs": "volumetric similarity (%)",
    "center_error": "centre error (px)",
    "perimeter_error": "perimeter error (px)",
    "hausdorff": "Hausdorff distance (px)",
    "hd95": "95th percentile Hausdorff (px)",
}
_GROUP_GAP = 0.8  # space between the models' groups of boxes, in box widths
_JITTER = 0.28  # half-width of the points' horizontal scatter, in box widths


def box_positions(table: pd.DataFrame, models: Sequence[str]) -> dict[tuple[str, int], float]:
    """x position of each (model, seed) box: models in order, their seeds side by side."""
    positions: dict[tuple[str, int], float] = {}
    x = 0.0
    for model in models:
        for seed in sorted(table.loc[table["model"] == model, "seed"].astype(int).unique()):
            positions[(model, seed)] = x
            x += 1.0
        x += _GROUP_GAP
    return positions


def metric_distributions(metrics: pd.DataFrame, columns: Sequence[str] = DISTRIBUTION_METRICS,
                         *, title: str | None = None) -> Figure:
    """One panel per metric column; per model and seed a box plot (median, quartiles,
    whiskers at 1.5 IQR), a ◆ at the mean and each lesion as a point.

    ``metrics`` stacks the runs' ``metrics.parquet`` with ``model`` and ``seed`` columns
    (:func:`weaklesion.figures.inputs.read_metrics`). Lesions without a score (an empty
    reference) are left out, as the means leave them out.
    """
    missing = [c for c in ("model", "seed", *columns) if c not in metrics.columns]
    if missing:
        raise WeaklesionError(f"per-lesion metrics lack the columns {missing}")
    if metrics.empty or not columns:
        raise WeaklesionError("no per-lesion metrics: nothing to draw")
    models = order_models(metrics["model"])
    colours = model_colours(models)
    positions = box_positions(metrics, models)
    rng = np.random.default_rng(0)  # fixed jitter: the same inputs draw the same figure

    fig = new_figure(max(5.0, 0.55 * len(positions) + 2.0), 3.6 * len(columns) + 0.4)
    axes = fig.subplots(len(columns), 1, squeeze=False)[:, 0]
    for ax, column in zip(axes, columns, strict=True):
        for (model, seed), x in positions.items():
            run = metrics[(metrics["model"] == model) & (metrics["seed"].astype(int) == seed)]
            values = run[column].to_numpy(np.float64)
            values = values[np.isfinite(values)]
            if not len(values):
                continue
            jitter = rng.uniform(-_JITTER, _JITTER, len(values))
            # Few lesions: large, opaque points; thousands: small, faint ones.
            ax.scatter(x + jitter, values, s=float(np.clip(400 / len(values), 2, 16)),
                       color=colours[model], alpha=0.7 if len(values) < 200 else 0.3,
                       linewidths=0, rasterized=True, zorder=1)
            ax.boxplot(values, positions=[x], widths=0.7, showfliers=False, zorder=2,
                       patch_artist=True, boxprops={"facecolor": "none",
                                                    "edgecolor": "black"},
                       medianprops={"color": colours[model], "linewidth": 2})
            ax.scatter([x], [values.mean()], marker="D", s=22, color="white",
                       edgecolors="black", linewidths=0.8, zorder=3)
        ax.set_xticks(list(positions.values()),
                      [f"{model}\nseed {seed}" for model, seed in positions], fontsize=8)
        ax.set_ylabel(AXIS_LABELS.get(column, column))
        ax.grid(axis="y", alpha=0.3)
        ax.set_xlim(min(positions.values()) - 0.7, max(positions.values()) + 0.7)
    n_lesions = metrics.groupby(["model", "seed"]).size().max()
    heading = f"per-lesion test metrics ({n_lesions} lesions per run; ◆ = mean)"
    fig.suptitle(f"{title}: {heading}" if title else heading, fontsize=11)
    return fig
