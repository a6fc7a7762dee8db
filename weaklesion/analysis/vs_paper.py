"""The reproduced numbers against the published ones, and the lines on the paper's claim.

The paper's cells ship in ``weaklesion/analysis/published_table.csv`` (:func:`published_table`,
mean ± std per published dataset × model × metric). A dataset of the config stands against
the paper's dataset of its format (:func:`published_name`: the adapter's ``published_as``),
whatever it is called.

- :func:`vs_paper`: the ``paper`` protocol's runs against the published cells (is the
  published mean within the reproduced mean ± 2 std?), the ``corrected`` protocol's and the
  paper's released models beside them; :func:`vs_paper_document` renders it.
- :func:`paper_claim_lines`: per dataset and protocol, a line on the paper's claim that A1+L
  beats A1, from the paired comparisons of :mod:`.comparisons`: the reproduced difference,
  whether its interval excludes zero, and whether it has the published difference's sign.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from importlib import resources

import numpy as np
import pandas as pd

from weaklesion.analysis.comparisons import MIN_RUNS_FOR_VERDICT, is_verdict
from weaklesion.analysis.formatting import Document, mean_std_text, number_text
from weaklesion.analysis.paper_table import seed_statistics
from weaklesion.datasets import FORMATS, adapter_class
from weaklesion.evaluation.metrics import METRIC_LABELS, PAPER_METRICS
from weaklesion.layout import DEFAULT_VARIANT
from weaklesion.models import BASELINE_MODEL, PROPOSED_MODEL, released_label, released_model
from weaklesion.protocols import CORRECTED, PAPER

REPORTED_FORMATS = tuple(f for f in FORMATS if adapter_class(f).published_as)
"""The formats of the datasets the paper reports."""

WITHIN_STDS = 2

# Lets a published mean lying exactly on mean ± 2 std count as within despite float rounding.
_WITHIN_TOLERANCE = 1e-9

VS_PAPER_COLUMNS = ["dataset", "published_dataset", "model", "metric", "published_mean",
                    "published_std", "reproduced_mean", "reproduced_std", "n_seeds",
                    "difference", "within_2std", "verdict", "corrected_mean", "corrected_std",
                    "corrected_n_seeds", "corrected_difference", "released_mean",
                    "released_difference", "released_within_published"]
"""The columns of :func:`vs_paper`."""

LEGEND = (
    "Published: mean ± std as printed in Chu et al., MIDL 2021. Reproduced: mean ± sample "
    f"std over this workflow's seeds under protocol {PAPER} (the released code step for "
    "step). Difference: reproduced − published. Within ±2 std: whether the published "
    "mean lies within the reproduced mean ± 2 std (not decidable with a single seed, "
    f"which has no std). Corrected: the same model under protocol {CORRECTED}, which fixes "
    "the released code's defects, and its difference from the published mean."
)
RELEASED_LEGEND = (
    "Released: the paper's own trained model (one run, imported with python -m weaklesion "
    "import-checkpoint) evaluated on the same lesions. The published mean ± std is over three "
    "seeds, so a single released run is expected within the published mean ± 2 std, not on it."
)


def published_table() -> pd.DataFrame:
    """The paper's published cells: ``dataset`` (the paper's name), ``model`` and
    ``<metric>_mean``, ``<metric>_std`` of the :data:`PAPER_METRICS`."""
    source = resources.files("weaklesion.analysis") / "published_table.csv"
    with source.open("r") as stream:
        return pd.read_csv(stream)


def published_name(fmt: str | None) -> str | None:
    """The name of a format's dataset in :func:`published_table`; None where the paper
    reports none (or the format is unknown)."""
    return adapter_class(fmt).published_as if fmt in FORMATS else None


# --- reproduced against published -----------------------------------------------------------


def vs_paper(runs: pd.DataFrame, formats: Mapping[str, str] | None = None,
             published: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``paper`` protocol's runs against the published numbers, one row per dataset × model
    × metric, with the ``corrected`` protocol's runs beside them.

    ``formats`` (dataset → format, the configured datasets) defaults to the runs' ``format``
    column. Only dataset × model pairs present on both sides appear. ``within_2std`` says
    whether the published mean lies within the ``paper`` runs' mean ± 2 std; it is NA
    (``verdict`` says why) with fewer than two seeds, since no std exists then, or without
    ``paper`` runs. ``corrected_*`` hold the ``corrected`` runs' mean, std, seeds and
    difference from the published mean (NaN without such runs), ``released_*`` the paper's
    released model's value (:func:`weaklesion.models.released_label`), its difference and
    whether it lies within the published mean ± 2 published std (NA without one). Columns:
    :data:`VS_PAPER_COLUMNS`.
    """
    published = published_table() if published is None else published
    if formats is None:
        formats = dict(zip(runs["dataset"], runs["format"], strict=True))
    stats = seed_statistics(runs[runs["dataset"].isin(list(formats))])
    by_protocol = {protocol: block.set_index(["dataset", "model"])
                   for protocol, block in stats.groupby("protocol", sort=False)}
    published = published.set_index(["dataset", "model"])
    rows = []
    pairs = dict.fromkeys((dataset, released_model(model) or model)
                          for dataset, model in stats[["dataset", "model"]].itertuples(index=False))
    for dataset, model in pairs:
        paper_name = published_name(formats[dataset])
        if (paper_name, model) not in published.index:
            continue
        own = {protocol: block.loc[(dataset, model)] if (dataset, model) in block.index
               else None for protocol, block in by_protocol.items()}
        paper_block = by_protocol.get(PAPER)
        released = (paper_block.loc[(dataset, released_label(model))] if paper_block is not None
                    and (dataset, released_label(model)) in paper_block.index else None)
        for metric in PAPER_METRICS:
            rows.append(_comparison_row(dataset, model, own, published.loc[(paper_name, model)],
                                        paper_name, metric, released))
    comparison = pd.DataFrame(rows, columns=VS_PAPER_COLUMNS)
    for column in ("within_2std", "released_within_published"):
        comparison[column] = comparison[column].astype("boolean")
    for column in ("n_seeds", "corrected_n_seeds"):
        comparison[column] = comparison[column].astype("int64")
    return comparison


def _seed_cell(row: pd.Series | None, metric: str) -> tuple[float, float, int]:
    """Mean, std and seeds of one metric in a row of :func:`seed_statistics` (None: no run)."""
    if row is None:
        return math.nan, math.nan, 0
    return row[f"{metric}_mean"], row[f"{metric}_std"], int(row[f"{metric}_count"])


def _within(difference: float, std: float) -> bool:
    """Whether a difference lies within WITHIN_STDS std (up to rounding)."""
    return bool(abs(difference) <= WITHIN_STDS * std + _WITHIN_TOLERANCE)


def _comparison_row(dataset: str, model: str, own: Mapping[str, pd.Series | None],
                    paper: pd.Series, paper_name: str, metric: str,
                    released: pd.Series | None = None) -> dict:
    mean, std, count = _seed_cell(own.get(PAPER), metric)
    corrected_mean, corrected_std, corrected_count = _seed_cell(own.get(CORRECTED), metric)
    released_mean = _seed_cell(released, metric)[0]
    published_mean = float(paper[f"{metric}_mean"])
    published_std = float(paper[f"{metric}_std"])
    released_within = (pd.NA if math.isnan(released_mean)
                       else _within(released_mean - published_mean, published_std))
    difference = mean - published_mean
    if count == 0:
        within, verdict = pd.NA, f"not decidable: no {PAPER}-protocol run"
    elif math.isnan(mean):
        within, verdict = pd.NA, "not decidable: no reproduced value"
    elif count < 2:
        within, verdict = pd.NA, f"not decidable: {count} seed, no std"
    else:
        within = _within(difference, std)
        verdict = "within" if within else "outside"
    return {
        "dataset": dataset, "published_dataset": paper_name, "model": model,
        "metric": metric, "published_mean": published_mean,
        "published_std": published_std, "reproduced_mean": mean,
        "reproduced_std": std, "n_seeds": count, "difference": difference,
        "within_2std": within, "verdict": verdict, "corrected_mean": corrected_mean,
        "corrected_std": corrected_std, "corrected_n_seeds": corrected_count,
        "corrected_difference": corrected_mean - published_mean,
        "released_mean": released_mean, "released_difference": released_mean - published_mean,
        "released_within_published": released_within,
    }


def vs_paper_document(comparison: pd.DataFrame, claims: Sequence[str] = ()) -> Document:
    """The comparison for the Markdown file and the HTML page: a legend, a count of the cells
    within ±2 std, the lines on the paper's claim (:func:`paper_claim_lines`) and the table."""
    title = "Reproduced vs published"
    if comparison.empty:
        return Document(title, bullets=claims, intro=[
            "No evaluated run belongs to a dataset the paper reports (formats "
            f"{', '.join(REPORTED_FORMATS)}), so there is nothing to compare with the "
            "published numbers."])
    decided = comparison["within_2std"].dropna()
    undecided = len(comparison) - len(decided)
    count = (f"The published mean lies within the reproduced mean ± 2 std in "
             f"{int(decided.sum())} of {len(decided)} decidable cells"
             + (f"; {undecided} cells are not decidable." if undecided else "."))
    cells = pd.DataFrame({
        "Dataset": comparison["dataset"],
        "Paper's dataset": comparison["published_dataset"],
        "Model": comparison["model"],
        "Metric": comparison["metric"].map(METRIC_LABELS),
        "Published": _mean_std_column(comparison, "published"),
        "Reproduced": _mean_std_column(comparison, "reproduced"),
        "Seeds": comparison["n_seeds"].map(str),
        "Difference": comparison["difference"].map(number_text),
        "Within ±2 std": comparison["verdict"].map(
            lambda verdict: {"within": "yes", "outside": "no"}.get(verdict, verdict)),
        "Corrected": _mean_std_column(comparison, "corrected"),
        "Corrected − published": comparison["corrected_difference"].map(number_text),
    }).astype(object)
    intro, right = [LEGEND, count], ["Published", "Reproduced", "Seeds", "Difference",
                                     "Corrected", "Corrected − published"]
    released = comparison["released_within_published"].dropna()
    if len(released):
        intro += [RELEASED_LEGEND,
                  f"The released models lie within the published mean ± 2 std in "
                  f"{int(released.sum())} of {len(released)} cells."]
        cells["Released"] = comparison["released_mean"].map(
            lambda value: number_text(value, signed=False)).astype(object)
        cells["Released − published"] = (comparison["released_difference"].map(number_text)
                                         .astype(object))
        right += ["Released", "Released − published"]
    return Document(title, intro=intro, bullets=claims, table=cells,
                    names=["Dataset", "Paper's dataset", "Model"], right_aligned=right)


def _mean_std_column(comparison: pd.DataFrame, prefix: str) -> list[str]:
    return [mean_std_text(mean, std) for mean, std in
            zip(comparison[f"{prefix}_mean"], comparison[f"{prefix}_std"], strict=True)]


# --- the paper's claim ----------------------------------------------------------------------


def paper_claim_lines(comparisons: pd.DataFrame, formats: Mapping[str, str],
                      published: pd.DataFrame | None = None) -> list[str]:
    """One line per dataset and protocol on the paper's claim: the reproduced A1+L − A1
    difference (rows of :func:`weaklesion.analysis.comparisons.paired_comparisons`), whether
    its interval over runs and lesions excludes zero (no verdict from fewer than
    :data:`~weaklesion.analysis.comparisons.MIN_RUNS_FOR_VERDICT` runs of each model), the
    lesion-only interval beside it, and, for the datasets the paper reports, whether it has
    the paper's sign."""
    published = published_table() if published is None else published
    published = published.set_index(["dataset", "model"])
    proposed, baseline = PROPOSED_MODEL, BASELINE_MODEL
    claim = comparisons[(comparisons["model"] == proposed)
                        & (comparisons["baseline"] == baseline)
                        & (comparisons["variant"] == DEFAULT_VARIANT)]
    lines = []
    for (dataset, protocol), rows in claim.groupby(["dataset", "protocol"], sort=False):
        where = f"{dataset} ({protocol})"
        if not rows["n_lesions"].any():
            lines.append(f"{where}: {proposed} and {baseline} were scored on different "
                         "lesions, so they are not compared lesion by lesion.")
            continue
        name = published_name(formats.get(dataset))
        reported = name is not None and (name, proposed) in published.index
        same, excluded, dice = [], [], None
        for row in rows.itertuples():
            paper = math.nan
            if reported:
                paper = (published.loc[(name, proposed), f"{row.metric}_mean"]
                         - published.loc[(name, baseline), f"{row.metric}_mean"])
                if np.sign(row.mean_difference) == np.sign(paper):
                    same.append(METRIC_LABELS[row.metric])
            if is_verdict(row.favours):
                excluded.append(METRIC_LABELS[row.metric])
            if row.metric == "dice":
                dice = (row, paper)
        difference = f"{proposed} − {baseline}"
        runs = int(rows["n_seeds"].min())
        if runs < MIN_RUNS_FOR_VERDICT:
            verdict = (f"with {runs} run(s) of a model the run-to-run variance is estimated "
                       "from too few runs, so no verdict is drawn")
        else:
            verdict = (f"its CI over runs and lesions excludes zero in {len(excluded)} of "
                       f"{len(rows)}{_named(excluded)}")
        if reported:
            text = (f"{where}: {difference} has the paper's sign in {len(same)} of {len(rows)} "
                    f"metrics{_named(same)}; {verdict}.")
        else:
            text = f"{where}: {difference}: {verdict}."
        if dice is not None:
            row, paper = dice
            text += (f" Dice {number_text(row.mean_difference)} [{number_text(row.ci_low)}, "
                     f"{number_text(row.ci_high)}] over runs and lesions, "
                     f"[{number_text(row.lesion_ci_low)}, {number_text(row.lesion_ci_high)}] "
                     "over these runs' lesions only")
            text += f", against the paper's {number_text(paper)}." if reported else "."
        if not reported:
            text += " The paper publishes no numbers for this dataset."
        lines.append(text)
    return lines


def _named(names: Sequence[str]) -> str:
    return f" ({', '.join(names)})" if names else ""
