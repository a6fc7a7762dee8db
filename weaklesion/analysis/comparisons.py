"""Paired comparisons of two models' per-lesion metrics: is a difference more than noise?

The paper's table gives mean ± std over three seeds; its claim rests on differences of 1–3
points. Here each model is compared with a baseline on the lesions both were scored on, with
the seeds' predictions of a lesion kept together (:func:`compare`):

- the per-lesion difference (model − baseline) of the seed-averaged metric and its mean;
- the main 95 % interval of that difference, which counts both sources of variance, the
  runs (training the same model again) and the lesions: a Welch t-interval over the runs'
  means (:func:`run_mean_ci`). The verdict (``favours``) is drawn from it, and only with at
  least :data:`MIN_RUNS_FOR_VERDICT` runs of each model;
- the lesion-only interval of the same mean, for these runs as they are: a bootstrap over
  test lesions (``scipy.stats.bootstrap``, BCa, 10,000 resamples, fixed random state;
  :func:`bootstrap_mean_ci`);
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
import warnings
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
MIN_RUNS_FOR_VERDICT = 3
"""Fewer runs of a model than this estimate the run-to-run variance too poorly to decide."""
NO_VERDICT = "no verdict (too few runs)"

# Differences within this (relative) spread are one constant up to floating-point rounding.
CONSTANT_TOLERANCE = 1e-9

COMPARISON_COLUMNS = [
    "dataset", "protocol", "variant", "model", "baseline", "metric", "n_lesions", "n_seeds",
    "n_model_runs", "n_baseline_runs", "mean_difference", "ci_low", "ci_high",
    "ci_excludes_zero", "lesion_ci_low", "lesion_ci_high", "lesion_ci_excludes_zero",
    "wilcoxon_p", "seed_difference_mean", "seed_difference_std", "favours",
]  # fmt: skip
"""The columns of :func:`paired_comparisons`."""

LEGEND = (
    "Paired comparisons on the lesions both models were scored on. Difference: model − "
    "baseline of each lesion's metric averaged over the seeds, its mean over lesions. "
    f"{CONFIDENCE:.0%} CI (runs and lesions): a Welch t-interval over the runs' means "
    "(each run's mean over the shared lesions), so it covers how differently the same "
    "training can end as well as the lesions; the verdict is drawn from it. Lesions only: "
    f"a bootstrap interval over lesions for these runs as they are (BCa, {N_RESAMPLES:,} "
    "resamples, each lesion's seeds kept together), narrower, as it leaves the run-to-run "
    "variance out. p: paired Wilcoxon signed-rank test over lesions. Seed-level: seed s "
    "against seed s, mean ± std over seeds of the difference of means. Favours: the model "
    "the main interval favours (higher IoU, Dice, VS; lower errors), neither where it "
    f"holds 0, and no verdict with fewer than {MIN_RUNS_FOR_VERDICT} runs of a model: the "
    "run-to-run variance is then estimated from too few runs."
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


def run_mean_ci(model_means: np.ndarray, baseline_means: np.ndarray, *,
                confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Welch t-interval of mean(model runs) − mean(baseline runs), each value one run's mean
    metric over the lesions both models were scored on; NaN with fewer than two runs of
    either model. Where every run of both models has one value each (no spread), the
    interval is that difference.

    Why Welch over the runs: a run's mean carries its seed's effect and its lesions' noise,
    and the lesions' own difficulty cancels in the difference, since every run scores the
    same lesions; the runs are few, so the t distribution, not a bootstrap over them, gives
    the interval's width. Simulated (24 lesions, 3 runs per model, seed effects with sd 0.5,
    1 and 2 against lesion noise of sd 2 and lesion spread of sd 8; no true difference; 200
    experiments each), this interval covered 0 in 97 %, 97 % and 96.5 % of the experiments;
    a two-level bootstrap (runs, then lesions) in 94.5 %, 88.5 % and 83 %, too narrow with
    three runs; the lesion-only bootstrap in 74.5 %, 57.5 % and 29.5 %. The tests repeat the
    case of sd 1 with this module's functions (``tests/test_comparisons.py``).
    """
    a = np.asarray(model_means, dtype=np.float64)
    b = np.asarray(baseline_means, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        difference = float(a[0] - b[0])
        return difference, difference
    with warnings.catch_warnings():
        # One model's runs all scoring the same is a variance of 0, which scipy warns about
        # as precision loss; Welch's interval then rests on the other model's runs, rightly.
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
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
    lesion_low, lesion_high = bootstrap_mean_ci(differences, n_resamples=n_resamples, seed=seed)
    runs = min(a.shape[1], b.shape[1])
    low, high = (run_mean_ci(a[scored].mean(axis=0).to_numpy(),
                             b[scored].mean(axis=0).to_numpy())
                 if len(differences) else (math.nan, math.nan))
    mean = float(differences.mean()) if len(differences) else math.nan
    favours = (favoured(mean, low, high, metric, model, baseline)
               if runs >= MIN_RUNS_FOR_VERDICT else NO_VERDICT)
    return {
        "model": model, "baseline": baseline, "metric": metric,
        "n_lesions": len(differences), "n_seeds": runs,
        "n_model_runs": a.shape[1], "n_baseline_runs": b.shape[1],
        "mean_difference": mean, "ci_low": low, "ci_high": high,
        "ci_excludes_zero": excludes_zero(low, high),
        "lesion_ci_low": lesion_low, "lesion_ci_high": lesion_high,
        "lesion_ci_excludes_zero": excludes_zero(lesion_low, lesion_high),
        "wilcoxon_p": wilcoxon_p(differences),
        "seed_difference_mean": float(np.mean(by_seed)) if by_seed else math.nan,
        "seed_difference_std": float(np.std(by_seed, ddof=1)) if len(by_seed) > 1 else math.nan,
        "favours": favours,
    }


def excludes_zero(low: float, high: float) -> bool:
    return bool(low > 0 or high < 0) if not math.isnan(low) else False


def is_verdict(favours: str) -> bool:
    """Whether a comparison's ``favours`` names a model: its main interval excludes zero,
    from enough runs."""
    return favours not in ("neither", NO_VERDICT)


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
    return table.astype({"n_lesions": "int64", "n_seeds": "int64", "n_model_runs": "int64",
                         "n_baseline_runs": "int64", "ci_excludes_zero": bool,
                         "lesion_ci_excludes_zero": bool})


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
        "Runs": [f"{m} / {b}" for m, b in zip(shown["n_model_runs"],
                                                shown["n_baseline_runs"], strict=True)],
        "Difference [95 % CI, runs and lesions]": [
            f"{number_text(m)} [{number_text(lo)}, {number_text(hi)}]" if n
            else "not comparable"
            for m, lo, hi, n in zip(shown["mean_difference"], shown["ci_low"],
                                    shown["ci_high"], shown["n_lesions"], strict=True)],
        "Lesions only, these runs": [
            f"[{number_text(lo)}, {number_text(hi)}]" if n else "–"
            for lo, hi, n in zip(shown["lesion_ci_low"], shown["lesion_ci_high"],
                                 shown["n_lesions"], strict=True)],
        "p": shown["wilcoxon_p"].map(p_value_text),
        "Seed-level": [f"{number_text(m)} ± {number_text(s, signed=False)}" for m, s in
                       zip(shown["seed_difference_mean"], shown["seed_difference_std"],
                           strict=True)],
        "Favours": shown["favours"],
    }).astype(object)
    return Document(title, intro=[LEGEND], bullets=claims, table=cells,
                    names=["Dataset", "Protocol", "Comparison", "Favours"],
                    right_aligned=["Lesions", "Runs", "Difference [95 % CI, runs and lesions]",
                                   "Lesions only, these runs", "p", "Seed-level"])
