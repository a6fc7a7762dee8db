"""The paired comparisons and ablations as tables (Markdown, CSV, HTML for the report), and
the line per dataset on the paper's claim that A1+L beats A1.

:mod:`weaklesion.comparisons` computes; this module renders and writes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from weaklesion.comparisons import (
    BASELINE,
    CONFIDENCE,
    DEFAULT_VARIANT,
    N_RESAMPLES,
    ablation_table,
    paired_comparisons,
    read_run_metrics,
)
from weaklesion.tables import (
    DECIMALS,
    METRIC_LABELS,
    PUBLISHED_DATASET,
    markdown_escape,
    markdown_to_html,
    published_table,
    write_outputs,
)


def _number(value: float, signed: bool = True) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:+.{DECIMALS}f}" if signed else f"{value:.{DECIMALS}f}"


def _p_value(p: float) -> str:
    if math.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def comparisons_markdown(comparisons: pd.DataFrame, paper_lines: Sequence[str] = ()) -> str:
    """The comparisons as Markdown: how to read them, the per-dataset lines on the paper's
    claim, and one row per comparison."""
    lines = [
        "Paired comparisons on the lesions both models were scored on. Difference: model − "
        "baseline of each lesion's metric averaged over the seeds; its mean over lesions "
        f"with a {CONFIDENCE:.0%} bootstrap confidence interval (BCa, {N_RESAMPLES:,} "
        "resamples of the lesions, each lesion's seeds kept together). p: paired Wilcoxon "
        "signed-rank test of the same differences. Seed-level: seed s against seed s, mean "
        "± std over seeds of the difference of means. Favours: the model the interval "
        "favours (higher IoU, Dice, VS; lower errors), neither where it holds 0.",
        "",
    ]
    lines += [f"- {line}" for line in paper_lines]
    if paper_lines:
        lines.append("")
    if comparisons.empty:
        return "\n".join(lines + ["No pair of models was evaluated on a common dataset."]) + "\n"
    shown = comparisons[comparisons["variant"] == DEFAULT_VARIANT]
    table = pd.DataFrame({
        "Dataset": shown["dataset"].map(markdown_escape),
        "Protocol": shown["protocol"],
        "Comparison": shown["model"] + " − " + shown["baseline"],
        "Metric": shown["metric"].map(METRIC_LABELS),
        "Lesions": shown["n_lesions"],
        "Difference [95 % CI]": [
            f"{_number(m)} [{_number(lo)}, {_number(hi)}]" if n else "not comparable"
            for m, lo, hi, n in zip(shown["mean_difference"], shown["ci_low"],
                                    shown["ci_high"], shown["n_lesions"], strict=True)],
        "p": shown["wilcoxon_p"].map(_p_value),
        "Seed-level": [f"{_number(m)} ± {_number(s, signed=False)}" for m, s in
                       zip(shown["seed_difference_mean"], shown["seed_difference_std"],
                           strict=True)],
        "Favours": shown["favours"].map(markdown_escape),
    })
    lines.append(table.to_markdown(index=False, colalign=("left",) * 4 + ("right",) * 4
                                   + ("left",)))
    return "\n".join(lines) + "\n"


def paper_claim_lines(comparisons: pd.DataFrame, formats: Mapping[str, str],
                      published: pd.DataFrame | None = None) -> list[str]:
    """One line per dataset and protocol on the paper's claim: the reproduced A1+L − A1
    difference, whether its CI excludes zero, and, for the datasets the paper reports,
    whether it has the paper's sign."""
    published = published_table() if published is None else published
    published = published.set_index(["dataset", "model"])
    lines = []
    claim = comparisons[(comparisons["model"] == "A1+L") & (comparisons["baseline"] == BASELINE)
                        & (comparisons["variant"] == DEFAULT_VARIANT)]
    for (dataset, protocol), rows in claim.groupby(["dataset", "protocol"], sort=False):
        where = f"{dataset} ({protocol})"
        if not rows["n_lesions"].any():
            lines.append(f"{where}: A1+L and A1 were scored on different lesions, so they are "
                         "not compared lesion by lesion.")
            continue
        name = PUBLISHED_DATASET.get(formats.get(dataset, ""))
        reported = name is not None and (name, "A1+L") in published.index
        same, excluded, dice = [], [], None
        for row in rows.itertuples():
            paper = math.nan
            if reported:
                paper = (published.loc[(name, "A1+L"), f"{row.metric}_mean"]
                         - published.loc[(name, "A1"), f"{row.metric}_mean"])
                if np.sign(row.mean_difference) == np.sign(paper):
                    same.append(METRIC_LABELS[row.metric])
            if row.ci_excludes_zero:
                excluded.append(METRIC_LABELS[row.metric])
            if row.metric == "dice":
                dice = (row, paper)
        if reported:
            text = (f"{where}: A1+L − A1 has the paper's sign in {len(same)} of {len(rows)} "
                    f"metrics{_named(same)}; its CI excludes zero in {len(excluded)}")
        else:
            text = f"{where}: the CI of A1+L − A1 excludes zero in {len(excluded)}"
        text += f" of {len(rows)}{_named(excluded)}."
        if dice is not None:
            row, paper = dice
            text += (f" Dice {_number(row.mean_difference)} [{_number(row.ci_low)}, "
                     f"{_number(row.ci_high)}]")
            text += f" against the paper's {_number(paper)}." if reported else "."
        if not reported:
            text += " The paper publishes no numbers for this dataset."
        lines.append(text)
    return lines


def _named(names: Sequence[str]) -> str:
    return f" ({', '.join(names)})" if names else ""


def ablation_markdown(table: pd.DataFrame) -> str:
    """The ablation table as Markdown: per setting value, model and metric the mean ± std over
    seeds and, for a value other than the default, the paired difference from the default."""
    if table.empty:
        return ("No ablations configured (see `ablations:` in a dataset's entry of the "
                "config).\n")
    lines = [
        "Each ablated value is its own run of the stages it affects (k: clustering and A1+L; "
        "target: every model), beside the default run. Mean ± std over seeds; for a value "
        "other than the default, the paired difference from the default run of the same "
        f"model on the same lesions, with its {CONFIDENCE:.0%} bootstrap CI and the Wilcoxon "
        "p-value.",
        "",
    ]
    frame = pd.DataFrame({
        "Dataset": table["dataset"].map(markdown_escape),
        "Protocol": table["protocol"],
        "Setting": table["setting"],
        "Value": [f"{v} (default)" if d else v
                  for v, d in zip(table["value"], table["is_default"], strict=True)],
        "Model": table["model"].map(markdown_escape),
        "Metric": table["metric"].map(METRIC_LABELS),
        "Seeds": table["n_seeds"],
        "Mean ± std": [f"{_number(m, signed=False)} ± {_number(s, signed=False)}"
                       for m, s in zip(table["mean"], table["std"], strict=True)],
        "Δ vs default [95 % CI]": [
            "" if d else f"{_number(m)} [{_number(lo)}, {_number(hi)}]"
            for m, lo, hi, d in zip(table["mean_difference"], table["ci_low"],
                                    table["ci_high"], table["is_default"], strict=True)],
        "p": ["" if d else _p_value(p)
              for p, d in zip(table["wilcoxon_p"], table["is_default"], strict=True)],
    })
    lines.append(frame.to_markdown(index=False, colalign=("left",) * 6 + ("right",) * 4))
    return "\n".join(lines) + "\n"


# --- the files ------------------------------------------------------------------------------

OUTPUT_FILES = {
    "comparisons_md": "comparisons.md",
    "comparisons_csv": "comparisons.csv",
    "comparisons_html": "comparisons.html",
    "ablations_md": "ablations.md",
    "ablations_csv": "ablations.csv",
    "ablations_html": "ablations.html",
}
"""Output key (the workflow rule's output names) → file name."""


def render_comparisons(metrics: pd.DataFrame, formats: Mapping[str, str],
                       defaults: Mapping[str, Mapping[str, object]] | None = None
                       ) -> dict[str, str]:
    """The text of every :data:`OUTPUT_FILES` file from the stacked per-lesion metrics.
    ``defaults``: dataset → ablated setting → its default value (for the ablation table's
    labels; "default" where not given)."""
    comparisons = paired_comparisons(metrics)
    claims = paper_claim_lines(comparisons, dict(formats))
    known = {dataset: dict(values) for dataset, values in (defaults or {}).items()}
    for dataset in metrics["dataset"].unique():
        for variant in metrics.loc[metrics["dataset"] == dataset, "variant"].unique():
            setting = variant.partition("-")[0]
            if variant != DEFAULT_VARIANT:
                known.setdefault(dataset, {}).setdefault(setting, DEFAULT_VARIANT)
    ablations = ablation_table(metrics, known)
    comparisons_md = comparisons_markdown(comparisons, claims)
    ablations_md = ablation_markdown(ablations)
    return {
        "comparisons_md": comparisons_md,
        "comparisons_csv": comparisons.to_csv(index=False, lineterminator="\n"),
        "comparisons_html": markdown_to_html(comparisons_md, "Paired comparisons"),
        "ablations_md": ablations_md,
        "ablations_csv": ablations.to_csv(index=False, lineterminator="\n"),
        "ablations_html": markdown_to_html(ablations_md, "Ablations"),
    }


def write_comparisons(results_dir: str | os.PathLike, out_dir: str | os.PathLike,
                      formats: Mapping[str, str]) -> list[Path]:
    """The comparison files in ``out_dir`` from every run's metrics.parquet under
    ``results_dir`` (``python -m weaklesion table``)."""
    results_dir = Path(results_dir)
    paths = sorted({*results_dir.glob("*/*/*/seed*/metrics.parquet"),
                    *results_dir.glob("*/*/ablations/*/*/seed*/metrics.parquet")})
    texts = render_comparisons(read_run_metrics(paths), formats)
    return write_outputs(texts, {key: Path(out_dir) / name
                                 for key, name in OUTPUT_FILES.items()})
