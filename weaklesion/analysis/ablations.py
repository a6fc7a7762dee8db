"""The ablations: what changing one setting (``k``, the number of clusters; ``target``, the
weak label) does to each model.

Each ablated value is its own run of the stages it affects (k: clustering and A1+L; target:
every model), under ``results/<dataset>/<protocol>/ablations/<setting>-<value>/``
(:mod:`weaklesion.layout`; the variant names the value). Here each ablated run is compared,
lesion by lesion, with the same model's run of the configured settings (the ``default``
variant), as :mod:`.comparisons` compares models:

- :func:`ablation_comparisons`: the paired comparisons of each variant with the default;
- :func:`ablation_table`: per setting value, model and metric the mean ± std over seeds and
  that paired difference (written as CSV, drawn by ``figure_ablation``);
- :func:`ablation_document`: the table for the Markdown file and the HTML page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from weaklesion.analysis.comparisons import (
    COMPARISON_COLUMNS,
    CONFIDENCE,
    N_RESAMPLES,
    RANDOM_STATE,
    compare,
)
from weaklesion.analysis.formatting import Document, number_text, p_value_text
from weaklesion.analysis.runs import run_means
from weaklesion.evaluation.metrics import METRIC_LABELS, PAPER_METRICS
from weaklesion.layout import DEFAULT_VARIANT, split_variant

ABLATION_COLUMNS = [
    "dataset", "protocol", "setting", "value", "is_default", "model", "metric", "n_seeds",
    "mean", "std", "n_lesions", "mean_difference", "ci_low", "ci_high", "wilcoxon_p",
]  # fmt: skip
"""The columns of :func:`ablation_table`."""

LEGEND = (
    "Each ablated value is its own run of the stages it affects (k: clustering and A1+L; "
    "target: every model), beside the default run. Mean ± std over seeds; for a value "
    "other than the default, the paired difference from the default run of the same "
    f"model on the same lesions, with its {CONFIDENCE:.0%} CI over runs and lesions (a "
    "Welch t-interval over the runs' means, as in the paired comparisons) and the Wilcoxon "
    "p-value over lesions."
)


def ablation_comparisons(metrics: pd.DataFrame, metric_names: Sequence[str] = PAPER_METRICS,
                         *, n_resamples: int = N_RESAMPLES, seed: int = RANDOM_STATE
                         ) -> pd.DataFrame:
    """Each ablated run against the same model's default run, lesion by lesion, with the
    columns of :func:`weaklesion.analysis.comparisons.paired_comparisons` (``model`` is the
    variant, ``baseline`` the default variant) and a column ``trained`` naming the model."""
    rows = []
    for (dataset, protocol, trained), group in metrics.groupby(
            ["dataset", "protocol", "model"], sort=False):
        if DEFAULT_VARIANT not in set(group["variant"]):
            continue
        variants = [v for v in group["variant"].unique() if v != DEFAULT_VARIANT]
        for variant in sorted(variants):
            # compare() tells runs apart by "model": here the variants are the two sides.
            pair = group[group["variant"].isin([variant, DEFAULT_VARIANT])].assign(
                model=lambda frame: frame["variant"])
            for metric in metric_names:
                rows.append({"dataset": dataset, "protocol": protocol, "variant": variant,
                             "trained": trained,
                             **compare(pair, variant, DEFAULT_VARIANT, metric,
                                       n_resamples=n_resamples, seed=seed)})
    columns = [*COMPARISON_COLUMNS[:3], "trained", *COMPARISON_COLUMNS[3:]]
    return pd.DataFrame(rows, columns=columns)


def ablation_table(metrics: pd.DataFrame, defaults: Mapping[str, Mapping[str, object]],
                   metric_names: Sequence[str] = PAPER_METRICS, *,
                   n_resamples: int = N_RESAMPLES, seed: int = RANDOM_STATE) -> pd.DataFrame:
    """Per dataset × protocol × ablated setting × value × model × metric: mean and std over
    seeds, and the paired difference from the default value's run (its CI and p-value).
    ``defaults``: dataset → setting → the default run's value. Columns:
    :data:`ABLATION_COLUMNS`; the default value's rows have no difference."""
    ablated = metrics[metrics["variant"] != DEFAULT_VARIANT]
    if ablated.empty:
        return pd.DataFrame(columns=ABLATION_COLUMNS)
    paired = ablation_comparisons(metrics, metric_names, n_resamples=n_resamples, seed=seed)
    paired = paired.set_index(["dataset", "protocol", "variant", "trained", "metric"])
    means = run_means(metrics, metric_names)
    rows = []
    for (dataset, protocol), group in ablated.groupby(["dataset", "protocol"], sort=False):
        variants = list(dict.fromkeys(group["variant"]))
        for setting in dict.fromkeys(split_variant(v)[0] for v in variants):
            default = defaults[dataset][setting]
            mine = [v for v in variants if split_variant(v)[0] == setting]
            models = list(dict.fromkeys(group.loc[group["variant"].isin(mine), "model"]))
            values = [(str(default), DEFAULT_VARIANT)] + [(split_variant(v)[1], v) for v in mine]
            for value, variant in values:
                for model in models:
                    runs = means[(means["dataset"] == dataset) & (means["protocol"] == protocol)
                                 & (means["variant"] == variant) & (means["model"] == model)]
                    for metric in metric_names:
                        key = (dataset, protocol, variant, model, metric)
                        pair = paired.loc[key] if key in paired.index else None
                        rows.append({
                            "dataset": dataset, "protocol": protocol, "setting": setting,
                            "value": value, "is_default": variant == DEFAULT_VARIANT,
                            "model": model, "metric": metric, "n_seeds": len(runs),
                            "mean": runs[metric].mean(),
                            "std": runs[metric].std(ddof=1) if len(runs) > 1 else math.nan,
                            **{column: (pair[column] if pair is not None else math.nan)
                               for column in ("n_lesions", "mean_difference", "ci_low",
                                              "ci_high", "wilcoxon_p")},
                        })
    return pd.DataFrame(rows, columns=ABLATION_COLUMNS)


def ablation_document(table: pd.DataFrame) -> Document:
    """The ablation table for the Markdown file and the HTML page: per setting value, model
    and metric the mean ± std over seeds and, for a value other than the default, the paired
    difference from the default."""
    title = "Ablations"
    if table.empty:
        return Document(title, intro=[
            "No ablations configured (see `ablations:` in a dataset's entry of the config)."])
    is_default = table["is_default"].to_numpy(dtype=bool)
    cells = pd.DataFrame({
        "Dataset": table["dataset"],
        "Protocol": table["protocol"],
        "Setting": table["setting"],
        "Value": [f"{v} (default)" if d else v
                  for v, d in zip(table["value"], is_default, strict=True)],
        "Model": table["model"],
        "Metric": table["metric"].map(METRIC_LABELS),
        "Seeds": table["n_seeds"].map(str),
        "Mean ± std": [f"{number_text(m, signed=False)} ± {number_text(s, signed=False)}"
                       for m, s in zip(table["mean"], table["std"], strict=True)],
        "Δ vs default [95 % CI]": [
            "" if d else f"{number_text(m)} [{number_text(lo)}, {number_text(hi)}]"
            for m, lo, hi, d in zip(table["mean_difference"], table["ci_low"],
                                    table["ci_high"], is_default, strict=True)],
        "p": ["" if d else p_value_text(p)
              for p, d in zip(table["wilcoxon_p"], is_default, strict=True)],
    }).astype(object)
    return Document(title, intro=[LEGEND], table=cells,
                    names=["Dataset", "Protocol", "Setting", "Value", "Model"],
                    right_aligned=["Seeds", "Mean ± std", "Δ vs default [95 % CI]", "p"])
