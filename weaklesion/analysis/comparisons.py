"""Paired comparisons of two models' per-lesion metrics: is a difference more than noise?

The paper's table gives mean ± std over three seeds; its claim rests on differences of 1–3
points. Here each model is compared with a baseline on the lesions both were scored on, with
the seeds' predictions of a lesion kept together (:func:`compare`):

- the per-lesion difference (model − baseline) of the seed-averaged metric, its mean, and a
  95 % bootstrap confidence interval of that mean over test lesions (``scipy.stats.bootstrap``,
  BCa, 10,000 resamples, fixed random state; :func:`bootstrap_mean_ci`);
- the paired Wilcoxon signed-rank p-value of the same differences (``scipy.stats.wilcoxon``;
  :func:`wilcoxon_p`);
- the seed-level difference: seed ``s`` of the model against seed ``s`` of the baseline, the
  mean and std over seeds of their difference of means.

Two corner cases are decided here: when every lesion's difference is the same value ``d``
up to rounding (identical predictions give ``d = 0``), the interval is ``[d, d]`` (every
resample's mean is ``d``), where BCa itself is undefined; and the p-value of differences that
are all zero is 1.

Input is the stacked ``metrics.parquet`` of every run
(:func:`weaklesion.analysis.runs.read_run_metrics`). :func:`paired_comparisons` makes every
comparison of :data:`PAIRS`, :func:`comparisons_document` renders them; :mod:`.ablations`
compares the ablated runs the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from weaklesion.analysis.formatting import Document, number_text, p_value_text
from weaklesion.evaluation.metrics import LOWER_IS_BETTER, METRIC_LABELS, PAPER_METRICS
from weaklesion.layout import DEFAULT_VARIANT
from weaklesion.models import BASELINE_MODEL, PROPOSED_MODEL

PAIRS = (("ACoseg", BASELINE_MODEL), (PROPOSED_MODEL, BASELINE_MODEL),
         (PROPOSED_MODEL, "ACoseg"))
"""(model, baseline): every model against the baseline, and the proposed model against
ACoseg."""

N_RESAMPLES = 10_000
CONFIDENCE = 0.95
RANDOM_STATE = 0

# Differences within this (relative) spread are one constant up to floating-point rounding.
CONSTANT_TOLERANCE = 1e-9

COMPARISON_COLUMNS = [
    "dataset", "protocol", "variant", "model", "baseline", "metric", "n_lesions", "n_seeds",
    "mean_difference", "ci_low", "ci_high", "ci_excludes_zero", "wilcoxon_p",
    "seed_difference_mean", "seed_difference_std", "favours",
]  # fmt: skip
"""The columns of :func:`paired_comparisons`."""

LEGEND = (
    "Paired comparisons on the lesions both models were scored on. Difference: model − "
    "baseline of each lesion's metric averaged over the seeds; its mean over lesions "
    f"with a {CONFIDENCE:.0%} bootstrap confidence interval (BCa, {N_RESAMPLES:,} "
    "resamples of the lesions, each lesion's seeds kept together). p: paired Wilcoxon "
    "signed-rank test of the same differences. Seed-level: seed s against seed s, mean "
    "± std over seeds of the difference of means. Favours: the model the interval "
    "favours (higher IoU, Dice, VS; lower errors), neither where it holds 0."
)


# --- the statistics -------------------------------------------------------------------------


def bootstrap_mean_ci(differences: np.ndarray, *, n_resamples: int = N_RESAMPLES,
                      confidence: float = CONFIDENCE, seed: int = RANDOM_STATE
                      ) -> tuple[float, float]:
    """BCa bootstrap interval of the mean of ``differences``; ``[d, d]`` where every value is
    ``d`` up to rounding, NaN with fewer than two values."""
    differences = np.asarray(differences, dtype=np.float64)
    if len(differences) < 2:
        return math.nan, math.nan
    mean = float(differences.mean())
    if np.ptp(differences) <= CONSTANT_TOLERANCE * max(1.0, abs(mean)):
        return mean, mean
    interval = stats.bootstrap((differences,), np.mean, n_resamples=n_resamples,
                               confidence_level=confidence, method="BCa",
                               rng=np.random.default_rng(seed)).confidence_interval
    if np.isnan(interval.low) or np.isnan(interval.high):
        # BCa is undefined where the jackknife has no spread (nearly all values equal, one
        # apart); the percentile interval still is.
        interval = stats.bootstrap((differences,), np.mean, n_resamples=n_resamples,
                                   confidence_level=confidence, method="percentile",
                                   rng=np.random.default_rng(seed)).confidence_interval
    return float(interval.low), float(interval.high)


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided paired Wilcoxon signed-rank p-value; 1 where every difference is 0, NaN
    without any difference."""
    differences = np.asarray(differences, dtype=np.float64)
    if len(differences) == 0:
        return math.nan
    if not np.any(differences):
        return 1.0
    return float(stats.wilcoxon(differences).pvalue)


def compare(metrics: pd.DataFrame, model: str, baseline: str, metric: str, *,
            n_resamples: int = N_RESAMPLES, seed: int = RANDOM_STATE) -> dict[str, object]:
    """One paired comparison of ``model`` with ``baseline`` on ``metric``, over the lesions
    both were scored on in every seed (``metrics``: one dataset, protocol and variant); the
    :data:`COMPARISON_COLUMNS` from ``model`` on."""
    values = {name: metrics[metrics["model"] == name].pivot_table(
        index="lesion_id", columns="seed", values=metric, aggfunc="first", dropna=False)
        for name in (model, baseline)}
    common = values[model].index.intersection(values[baseline].index)
    a, b = values[model].loc[common], values[baseline].loc[common]
    scored = a.notna().all(axis=1) & b.notna().all(axis=1)
    differences = (a[scored].mean(axis=1) - b[scored].mean(axis=1)).to_numpy()
    shared_seeds = sorted(set(a.columns) & set(b.columns))
    by_seed = [a.loc[scored, s].mean() - b.loc[scored, s].mean() for s in shared_seeds]
    low, high = bootstrap_mean_ci(differences, n_resamples=n_resamples, seed=seed)
    mean = float(differences.mean()) if len(differences) else math.nan
    return {
        "model": model, "baseline": baseline, "metric": metric,
        "n_lesions": len(differences), "n_seeds": min(a.shape[1], b.shape[1]),
        "mean_difference": mean, "ci_low": low, "ci_high": high,
        "ci_excludes_zero": bool(low > 0 or high < 0) if not math.isnan(low) else False,
        "wilcoxon_p": wilcoxon_p(differences),
        "seed_difference_mean": float(np.mean(by_seed)) if by_seed else math.nan,
        "seed_difference_std": float(np.std(by_seed, ddof=1)) if len(by_seed) > 1 else math.nan,
        "favours": favoured(mean, low, high, metric, model, baseline),
    }


def favoured(mean: float, low: float, high: float, metric: str, model: str,
             baseline: str) -> str:
    """The model the interval favours (higher scores, lower errors), or "neither" where it
    holds zero."""
    if math.isnan(low) or low <= 0 <= high:
        return "neither"
    model_better = (mean < 0) if metric in LOWER_IS_BETTER else (mean > 0)
    return model if model_better else baseline


def paired_comparisons(metrics: pd.DataFrame, pairs: Sequence[tuple[str, str]] = PAIRS,
                       metric_names: Sequence[str] = PAPER_METRICS, *,
                       n_resamples: int = N_RESAMPLES, seed: int = RANDOM_STATE
                       ) -> pd.DataFrame:
    """Every pair of ``pairs`` present, for every dataset × protocol × variant × metric.
    Columns: :data:`COMPARISON_COLUMNS`. A pair with no lesion in common (under protocol
    paper, DeepLesion's A1+L was scored on the training split) has ``n_lesions`` 0."""
    rows = []
    for (dataset, protocol, variant), group in metrics.groupby(
            ["dataset", "protocol", "variant"], sort=False):
        present = set(group["model"])
        for model, baseline in pairs:
            if {model, baseline} <= present:
                for metric in metric_names:
                    rows.append({"dataset": dataset, "protocol": protocol, "variant": variant,
                                 **compare(group, model, baseline, metric,
                                           n_resamples=n_resamples, seed=seed)})
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    return table.astype({"n_lesions": "int64", "n_seeds": "int64", "ci_excludes_zero": bool})


# --- their table ----------------------------------------------------------------------------


def comparisons_document(comparisons: pd.DataFrame, claims: Sequence[str] = ()) -> Document:
    """The comparisons of the default runs for the Markdown file and the HTML page: how to
    read them, the lines on the paper's claim
    (:func:`weaklesion.analysis.vs_paper.paper_claim_lines`), one row per comparison."""
    title = "Paired comparisons"
    if comparisons.empty:
        return Document(title, intro=[LEGEND], bullets=claims,
                        notes=["No pair of models was evaluated on a common dataset."])
    shown = comparisons[comparisons["variant"] == DEFAULT_VARIANT]
    cells = pd.DataFrame({
        "Dataset": shown["dataset"],
        "Protocol": shown["protocol"],
        "Comparison": shown["model"] + " − " + shown["baseline"],
        "Metric": shown["metric"].map(METRIC_LABELS),
        "Lesions": shown["n_lesions"].map(str),
        "Difference [95 % CI]": [
            f"{number_text(m)} [{number_text(lo)}, {number_text(hi)}]" if n
            else "not comparable"
            for m, lo, hi, n in zip(shown["mean_difference"], shown["ci_low"],
                                    shown["ci_high"], shown["n_lesions"], strict=True)],
        "p": shown["wilcoxon_p"].map(p_value_text),
        "Seed-level": [f"{number_text(m)} ± {number_text(s, signed=False)}" for m, s in
                       zip(shown["seed_difference_mean"], shown["seed_difference_std"],
                           strict=True)],
        "Favours": shown["favours"],
    }).astype(object)
    return Document(title, intro=[LEGEND], bullets=claims, table=cells,
                    names=["Dataset", "Protocol", "Comparison", "Favours"],
                    right_aligned=["Lesions", "Difference [95 % CI]", "p", "Seed-level"])
