"""Paired comparisons of two models' per-lesion metrics: is a difference more than noise?

The paper's table gives mean ± std over three seeds; its claim rests on differences of 1–3
points. Here each model is compared with a baseline on the lesions both were scored on, with
the seeds' predictions of a lesion kept together:

- the per-lesion difference (model − baseline) of the seed-averaged metric, its mean, and a
  95 % bootstrap confidence interval of that mean over test lesions (``scipy.stats.bootstrap``,
  BCa, 10,000 resamples, fixed random state);
- the paired Wilcoxon signed-rank p-value of the same differences (``scipy.stats.wilcoxon``);
- the seed-level difference: seed ``s`` of the model against seed ``s`` of the baseline, the
  mean and std over seeds of their difference of means.

Two corner cases are decided here: when every lesion's difference is the same value ``d``
up to rounding (identical predictions give ``d = 0``), the interval is ``[d, d]`` (every
resample's mean is ``d``), where BCa itself is undefined; and the p-value of differences that
are all zero is 1.

Input is the stacked ``metrics.parquet`` of every run (:func:`read_run_metrics`); everything
else is a pure function of DataFrames. :mod:`weaklesion.comparison_tables` renders them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from weaklesion.errors import WeaklesionError
from weaklesion.metrics import LOWER_IS_BETTER, PAPER_METRICS

BASELINE = "A1"
DEFAULT_VARIANT = "default"
# (model, baseline): every model against A1, and the proposed model against ACoseg.
PAIRS = (("ACoseg", "A1"), ("A1+L", "A1"), ("A1+L", "ACoseg"))
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

_RUN = re.compile(r"seed(\d+)")


# --- reading runs ---------------------------------------------------------------------------


def run_identity(path: str | os.PathLike) -> dict[str, object]:
    """dataset, protocol, variant, model and seed of a run file, from the workflow's layout:
    ``results/<dataset>/<protocol>[/ablations/<variant>]/<model>/seed<N>/<file>``."""
    path = Path(path)
    parts = path.parts
    match = _RUN.fullmatch(parts[-2]) if len(parts) >= 5 else None
    if match is None:
        raise WeaklesionError(
            f"{path}: expected results/<dataset>/<protocol>[/ablations/<variant>]/<model>/"
            "seed<N>/<file>")
    model = parts[-3]
    if len(parts) >= 7 and parts[-5] == "ablations":
        dataset, protocol, variant = parts[-7], parts[-6], parts[-4]
    else:
        dataset, protocol, variant = parts[-5], parts[-4], "default"
    return {"dataset": dataset, "protocol": protocol, "variant": variant, "model": model,
            "seed": int(match.group(1))}


def read_run_metrics(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Every run's per-lesion metrics stacked, with the run's identity in front."""
    tables = []
    for path in paths:
        table = pd.read_parquet(path)
        missing = [c for c in ("lesion_id", *PAPER_METRICS) if c not in table.columns]
        if missing:
            raise WeaklesionError(f"{path}: per-lesion metrics lack {missing}; rerun evaluation")
        identity = run_identity(path)
        for offset, (key, value) in enumerate(identity.items()):
            table.insert(offset, key, value)
        tables.append(table[[*identity, "lesion_id", *PAPER_METRICS]])
    if not tables:
        return pd.DataFrame(columns=["dataset", "protocol", "variant", "model", "seed",
                                     "lesion_id", *PAPER_METRICS])
    return pd.concat(tables, ignore_index=True)


# --- the statistics -------------------------------------------------------------------------


def bootstrap_mean_ci(differences: np.ndarray, *, n_resamples: int = N_RESAMPLES,
                      confidence: float = CONFIDENCE, seed: int = RANDOM_STATE
                      ) -> tuple[float, float]:
    """BCa bootstrap interval of the mean of ``differences`` (see the module docstring for
    the constant case). NaN with fewer than two values."""
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
    both were scored on in every seed (``metrics``: one dataset, protocol and variant)."""
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
    """Every pair of :data:`PAIRS` present, for every dataset × protocol × variant × metric.
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


def ablation_comparisons(metrics: pd.DataFrame, metric_names: Sequence[str] = PAPER_METRICS,
                         *, n_resamples: int = N_RESAMPLES, seed: int = RANDOM_STATE
                         ) -> pd.DataFrame:
    """Each ablated run against the same model's default run (``variant`` default), lesion
    by lesion, with the columns of :func:`paired_comparisons` (``model`` is the variant,
    ``baseline`` "default", and a column ``trained`` names the model)."""
    rows = []
    for (dataset, protocol, trained), group in metrics.groupby(
            ["dataset", "protocol", "model"], sort=False):
        variants = [v for v in group["variant"].unique() if v != DEFAULT_VARIANT]
        if DEFAULT_VARIANT not in set(group["variant"]):
            continue
        for variant in sorted(variants):
            pair = group[group["variant"].isin([variant, DEFAULT_VARIANT])].assign(
                model=lambda frame: frame["variant"])
            for metric in metric_names:
                rows.append({"dataset": dataset, "protocol": protocol, "variant": variant,
                             "trained": trained,
                             **compare(pair, variant, DEFAULT_VARIANT, metric,
                                       n_resamples=n_resamples, seed=seed)})
    columns = [*COMPARISON_COLUMNS[:3], "trained", *COMPARISON_COLUMNS[3:]]
    return pd.DataFrame(rows, columns=columns)


# --- ablations ------------------------------------------------------------------------------

ABLATION_COLUMNS = [
    "dataset", "protocol", "setting", "value", "is_default", "model", "metric", "n_seeds",
    "mean", "std", "n_lesions", "mean_difference", "ci_low", "ci_high", "wilcoxon_p",
]  # fmt: skip


def split_variant(variant: str) -> tuple[str, str]:
    """``k-15`` → (``k``, ``15``)."""
    setting, _, value = variant.partition("-")
    return setting, value


def run_means(metrics: pd.DataFrame, metric_names: Sequence[str] = PAPER_METRICS
              ) -> pd.DataFrame:
    """Each run's mean of each metric over its lesions (the summary.json values)."""
    keys = ["dataset", "protocol", "variant", "model", "seed"]
    return metrics.groupby(keys, sort=False)[list(metric_names)].mean().reset_index()


def ablation_table(metrics: pd.DataFrame, defaults: dict[str, dict[str, object]],
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
