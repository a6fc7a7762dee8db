"""Training curves: losses and validation Dice per epoch, one line per run."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from weaklesion.errors import WeaklesionError
from weaklesion.figures.inputs import HISTORY_COLUMNS
from weaklesion.figures.style import model_colours, new_figure, order_models, seed_styles

PANELS = (
    ("train_loss", "training loss"),
    ("val_loss", "validation loss"),
    ("val_dice", "validation Dice vs weak target (%)"),
)


def training_curves(history: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Three panels (training loss, validation loss, validation Dice) against epoch.

    ``history`` stacks the runs' ``history.csv`` with ``model`` and ``seed`` columns
    (:func:`weaklesion.figures.inputs.read_histories`). Colour = model, line style = seed.
    Losses use a log scale where positive: the models weigh their losses differently
    (A1 100 × BCE, A1+L 50 × BCE + CE, ACoseg plain BCE), so compare shapes, not levels.
    """
    missing = [c for c in ("model", "seed", *HISTORY_COLUMNS) if c not in history.columns]
    if missing:
        raise WeaklesionError(f"training history lacks the columns {missing}")
    if history.empty:
        raise WeaklesionError("training history is empty: nothing to draw")
    models = order_models(history["model"])
    colours = model_colours(models)
    styles = seed_styles(history["seed"].astype(int))

    fig = new_figure(13, 4.0)
    axes = fig.subplots(1, len(PANELS))
    for ax, (column, label) in zip(axes, PANELS, strict=True):
        for model in models:
            for seed, run in history[history["model"] == model].groupby("seed", sort=True):
                run = run.sort_values("epoch")
                ax.plot(run["epoch"], run[column], color=colours[model],
                        linestyle=styles[int(seed)], marker="o", markersize=2.5, linewidth=1.2)
        values = history[column].to_numpy(np.float64)
        if column.endswith("loss") and np.isfinite(values).any() and (values > 0).all():
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles = [Line2D([], [], color=colours[m], linewidth=2, label=m) for m in models]
    handles += [Line2D([], [], color="black", linestyle=style, label=f"seed {seed}")
                for seed, style in styles.items()]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    heading = f"training curves of {history.groupby(['model', 'seed']).ngroups} runs"
    fig.suptitle(f"{title}: {heading}" if title else heading, fontsize=11)
    return fig
