"""Forest plots of paired comparisons, and ablated settings against their metrics.

:func:`forest_plot`: one panel per metric; per comparison (model − baseline) and protocol a
point at the mean per-lesion difference with its 95 % confidence interval over runs and
lesions, and a line at zero, so an interval that clears the line (filled: from enough runs to
decide) is a difference that holds when the training is run again.
:func:`ablation_figure`: one panel per metric; the ablated setting's values along x, each
seed's mean as a small point, the seeds' mean as a large one, and the paired interval against
the default value as a bar around the default's mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from weaklesion.analysis.comparisons import MIN_RUNS_FOR_VERDICT, is_verdict
from weaklesion.errors import WeaklesionError
from weaklesion.evaluation.metrics import LOWER_IS_BETTER
from weaklesion.figures.distributions import AXIS_LABELS
from weaklesion.figures.style import model_colours, new_figure, order_models
from weaklesion.protocols import CORRECTED, PAPER

FOREST_METRICS = ("iou", "dice", "vs", "center_error", "perimeter_error", "hausdorff")
_PROTOCOL_MARKERS = {PAPER: "o", CORRECTED: "s"}
_PROTOCOL_SHIFT = 0.18  # vertical offset of the protocols' rows within a comparison


def forest_plot(comparisons: pd.DataFrame, *, metrics: Sequence[str] = FOREST_METRICS,
                title: str | None = None) -> Figure:
    """The comparisons of one dataset (rows of
    :func:`weaklesion.analysis.comparisons.paired_comparisons`, any protocols) as a forest
    plot; comparisons without common lesions are left out."""
    shown = comparisons[comparisons["n_lesions"] > 0]
    if shown.empty:
        raise WeaklesionError("no comparison with lesions in common: nothing to draw")
    pairs = list(dict.fromkeys(zip(shown["model"], shown["baseline"], strict=True)))
    protocols = list(dict.fromkeys(shown["protocol"]))
    colours = model_colours(order_models(shown["model"]))
    metrics = [m for m in metrics if m in set(shown["metric"])]
    rows, columns = _grid(len(metrics))
    fig = new_figure(3.3 * columns + 1.4, rows * (0.55 * len(pairs) * len(protocols) + 1.1) + 0.6)
    axes = fig.subplots(rows, columns, squeeze=False, sharey=True).ravel()
    for spare in axes[len(metrics):]:
        spare.set_visible(False)
    axes = axes[:len(metrics)]
    for ax, metric in zip(axes, metrics, strict=True):
        for position, (model, baseline) in enumerate(pairs):
            for offset, protocol in enumerate(protocols):
                row = shown[(shown["metric"] == metric) & (shown["model"] == model)
                            & (shown["baseline"] == baseline) & (shown["protocol"] == protocol)]
                if row.empty:
                    continue
                row = row.iloc[0]
                y = position + (offset - (len(protocols) - 1) / 2) * _PROTOCOL_SHIFT * 2
                # A single run of a model has no run-level interval: the point alone.
                errors = np.nan_to_num([[row["mean_difference"] - row["ci_low"]],
                                        [row["ci_high"] - row["mean_difference"]]])
                ax.errorbar(row["mean_difference"], y, xerr=errors,
                            fmt=_PROTOCOL_MARKERS.get(protocol, "D"), color=colours[model],
                            markerfacecolor=None if is_verdict(row["favours"]) else "white",
                            capsize=3, markersize=6, linewidth=1.4)
        ax.axvline(0, color="black", linewidth=0.8)
        better = "← better" if metric in LOWER_IS_BETTER else "better →"
        ax.set_xlabel(f"{AXIS_LABELS.get(metric, metric)}\ndifference ({better})", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(pairs)), [f"{m} − {b}" for m, b in pairs])
    axes[0].invert_yaxis()
    for ax in axes[columns::columns]:
        ax.tick_params(labelleft=True)
    handles = [axes[0].plot([], [], _PROTOCOL_MARKERS.get(p, "D"), color="grey",
                            label=f"protocol {p}")[0] for p in protocols]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(protocols), fontsize=9)
    heading = ("paired differences, mean over test lesions with 95 % CI over runs and lesions "
               f"(filled: it excludes 0, from ≥ {MIN_RUNS_FOR_VERDICT} runs per model)")
    fig.suptitle(f"{title}: {heading}" if title else heading, fontsize=10)
    return fig


def ablation_figure(seed_means: pd.DataFrame, comparisons: pd.DataFrame, *, axis: str,
                    default: float | str, metrics: Sequence[str] = FOREST_METRICS,
                    title: str | None = None) -> Figure:
    """One dataset's ablation of ``axis`` for one protocol.

    ``seed_means``: one row per value × model × seed with the run's mean of each metric
    (column ``value`` holds the ablated setting, the default's runs included).
    ``comparisons``: rows of :func:`weaklesion.analysis.ablations.ablation_comparisons` with a
    ``value`` column, each value against the default.
    """
    if seed_means.empty:
        raise WeaklesionError(f"no runs of the {axis} ablation: nothing to draw")
    values = _ordered_values(seed_means["value"])
    x_of = {value: i for i, value in enumerate(values)}
    models = order_models(seed_means["model"])
    colours = model_colours(models)
    metrics = [m for m in metrics if m in seed_means.columns]
    rows, columns = _grid(len(metrics))
    fig = new_figure(3.4 * columns + 0.8, 3.3 * rows + 0.5)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for spare in axes[len(metrics):]:
        spare.set_visible(False)
    axes = axes[:len(metrics)]
    spread = 0.08 * (len(models) - 1)
    for ax, metric in zip(axes, metrics, strict=True):
        for index, model in enumerate(models):
            shift = -spread / 2 + (spread / max(len(models) - 1, 1)) * index
            runs = seed_means[seed_means["model"] == model]
            means = runs.groupby("value", sort=False)[metric].mean()
            means = means.reindex([v for v in values if v in means.index])
            xs = [x_of[v] + shift for v in means.index]
            ax.plot(xs, means.to_numpy(), "-o", color=colours[model], label=model,
                    markersize=6)
            ax.scatter([x_of[v] + shift for v in runs["value"]], runs[metric], s=10,
                       color=colours[model], alpha=0.5, linewidths=0)
            if str(default) not in {str(v) for v in means.index}:
                continue
            base = means[[v for v in means.index if str(v) == str(default)][0]]
            for row in comparisons[(comparisons["trained"] == model)
                                   & (comparisons["metric"] == metric)].itertuples():
                if row.value in x_of and row.n_lesions:
                    ax.errorbar(x_of[row.value] + shift, base + row.mean_difference,
                                yerr=np.nan_to_num([[row.mean_difference - row.ci_low],
                                                    [row.ci_high - row.mean_difference]]),
                                fmt="none", ecolor=colours[model], capsize=3, alpha=0.8)
        ax.set_xticks(range(len(values)),
                      [f"{v}\n(default)" if str(v) == str(default) else str(v)
                       for v in values])
        ax.set_xlabel(axis)
        ax.set_ylabel(AXIS_LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    heading = (f"ablation of {axis}: mean over seeds (points: seeds; bars: 95 % CI of the "
               "paired difference from the default, around the default's mean)")
    fig.suptitle(f"{title}: {heading}" if title else heading, fontsize=10)
    return fig


def _grid(panels: int, columns: int = 3) -> tuple[int, int]:
    """(rows, columns) of a grid for ``panels`` panels, at most ``columns`` wide."""
    columns = min(columns, panels)
    return -(-panels // columns), columns


def _ordered_values(values: pd.Series) -> list:
    unique = list(dict.fromkeys(values))
    try:
        return sorted(unique, key=float)
    except (TypeError, ValueError):
        return sorted(unique, key=str)

