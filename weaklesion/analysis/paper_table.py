"""The paper's results table (Chu et al., Table 1) from the runs of :mod:`.runs`.

One row per dataset × protocol × model, in that order: datasets as the runs list them, the
protocols as :data:`weaklesion.protocols.PROTOCOLS`, the models as
:data:`weaklesion.models.MODEL_ORDER` (the trained models, then the paper's released ones,
``A1 (released)`` …; others after them, by name). Per metric it holds

- the mean and the sample std over seeds (:func:`seed_statistics`, which also gives the
  reproduced side of :mod:`.vs_paper`);
- the relative change against the baseline model (A1) of the same dataset and protocol (a
  released model's: against the released A1);
- whether it is the best cell of its dataset, protocol and metric, decided on the printed
  values.

:func:`paper_table` computes the numeric table, which is written as CSV.
:func:`paper_table_cells` turns it into display strings (``**84.00 ± 2.00** (+2.4%)``), which
:func:`paper_table_document` (Markdown, HTML) and :func:`paper_table_latex` (booktabs) render.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from weaklesion.analysis.formatting import (
    DECIMALS,
    Document,
    bold,
    mean_std_text,
    percent_text,
    to_latex,
)
from weaklesion.evaluation.metrics import LOWER_IS_BETTER, METRIC_LABELS, PAPER_METRICS
from weaklesion.models import BASELINE_MODEL, MODEL_ORDER, released_label, released_model
from weaklesion.protocols import CORRECTED, PAPER, PROTOCOLS

TABLE_COLUMNS = ["dataset", "protocol", "model", "n_seeds"] + [
    f"{metric}_{part}" for metric in PAPER_METRICS for part in ("mean", "std", "rel_change", "best")
]
"""The columns of :func:`paper_table`."""

METRIC_HEADERS = {metric: f"{METRIC_LABELS[metric]} {'↓' if metric in LOWER_IS_BETTER else '↑'}"
                  for metric in PAPER_METRICS}
"""A metric's column header in the rendered table, with the direction that is better."""

NAME_HEADERS = ("Dataset", "Protocol", "Model")

LEGEND = (
    "Test-set metrics, mean ± sample std over seeds (no std with a single seed). "
    f"In brackets: relative change against {BASELINE_MODEL} of the same dataset and protocol, "
    f"(model − {BASELINE_MODEL}) / {BASELINE_MODEL}. Bold: best per dataset, protocol and "
    "column (↑ higher is better, ↓ lower is better). "
    f"Protocol {PAPER} is the released code step for step, {CORRECTED} fixes its defects "
    "(docs/protocols.md). IoU, Dice and VS in percent; the errors in pixels of the 120×120 "
    "patch; Hausdorff is the column the paper calls AVD."
)
RELEASED_LEGEND = (
    "(released): the paper's own trained model (python -m weaklesion import-checkpoint), one "
    "run evaluated on the same lesions as the trained runs; its relative change is against "
    f"{released_label(BASELINE_MODEL)}."
)

LATEX_CAPTION = (
    r"Test-set results, mean $\pm$ sample std over seeds; in brackets the relative change "
    rf"against {BASELINE_MODEL}, (model $-$ {BASELINE_MODEL}) / {BASELINE_MODEL}. Best per "
    r"dataset and protocol in bold ($\uparrow$ higher is better, $\downarrow$ lower is "
    r"better). IoU, Dice and VS in \%, errors in pixels."
)
LATEX_RELEASED = (" (released): the paper's own trained model, one run, compared with "
                  f"{released_label(BASELINE_MODEL)}.")
LATEX_LABEL = "tab:weaklesion-results"


# --- the numbers ----------------------------------------------------------------------------


def paper_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset × protocol × model (in the module's order): mean, std, relative
    change against the baseline and best flag per metric. Columns: :data:`TABLE_COLUMNS`.

    ``<metric>_std`` is the sample std (ddof=1) over seeds, NaN with fewer than two values.
    ``<metric>_rel_change`` is the fraction (model − A1) / A1 of the same dataset and protocol,
    NaN for A1 itself or without an A1 row. ``<metric>_best`` marks the highest (``iou``,
    ``dice``, ``vs``) or lowest (errors) mean of a dataset and protocol as printed with
    :data:`DECIMALS` decimals, all of them on a tie, and only where at least two models have a
    value.
    """
    stats = seed_statistics(runs).drop(columns=[f"{m}_count" for m in PAPER_METRICS])
    blocks = [_compare_within(block)
              for _, block in stats.groupby(["dataset", "protocol"], sort=False)]
    if not blocks:
        return pd.DataFrame({column: pd.Series(dtype=_column_dtype(column))
                             for column in TABLE_COLUMNS})
    return pd.concat(blocks, ignore_index=True)[TABLE_COLUMNS]


def _column_dtype(column: str) -> str:
    if column in ("dataset", "protocol", "model"):
        return "object"
    if column == "n_seeds":
        return "int64"
    return "bool" if column.endswith("_best") else "float64"


def seed_statistics(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × protocol × model (in the table's order): ``n_seeds``, and each metric's
    ``<metric>_mean``, ``<metric>_std`` (sample std, NaN below two values) and
    ``<metric>_count`` (the seeds that scored it)."""
    rows = []
    for dataset, group in runs.groupby("dataset", sort=False):
        for protocol in _in_order(group["protocol"].unique(), PROTOCOLS):
            in_protocol = group[group["protocol"] == protocol]
            for model in _in_order(in_protocol["model"].unique(), MODEL_ORDER):
                seeds = in_protocol[in_protocol["model"] == model]
                row = {"dataset": dataset, "protocol": protocol, "model": model,
                       "n_seeds": len(seeds)}
                for metric in PAPER_METRICS:
                    values = seeds[metric].dropna().to_numpy(dtype=float)
                    row[f"{metric}_mean"] = values.mean() if len(values) else math.nan
                    row[f"{metric}_std"] = values.std(ddof=1) if len(values) >= 2 else math.nan
                    row[f"{metric}_count"] = len(values)
                rows.append(row)
    columns = ["dataset", "protocol", "model", "n_seeds"] + [
        f"{metric}_{part}" for metric in PAPER_METRICS for part in ("mean", "std", "count")]
    return pd.DataFrame(rows, columns=columns)


def _in_order(names: Iterable[str], known: Sequence[str]) -> list[str]:
    """The ``known`` names present, in their order, then any others sorted."""
    names = set(names)
    return [n for n in known if n in names] + sorted(names.difference(known))


def _compare_within(block: pd.DataFrame) -> pd.DataFrame:
    """Relative change against the baseline and best flags within one dataset's rows of one
    protocol. The released models are compared with the released baseline."""
    block = block.copy()
    released = block["model"].map(released_model).notna().to_numpy()
    baselines = np.where(released, released_label(BASELINE_MODEL), BASELINE_MODEL)
    is_baseline = (block["model"] == baselines).to_numpy()
    for metric in PAPER_METRICS:
        means = block[f"{metric}_mean"].to_numpy(dtype=float)
        of_model = dict(zip(block["model"], means, strict=True))
        baseline = np.array([of_model.get(name, math.nan) for name in baselines])
        with np.errstate(divide="ignore", invalid="ignore"):
            change = (means - baseline) / baseline
        change[is_baseline | ~np.isfinite(change)] = math.nan
        block[f"{metric}_rel_change"] = change

        printed = np.round(means, DECIMALS)
        scored = ~np.isnan(printed)
        best = np.zeros(len(block), dtype=bool)
        if scored.sum() >= 2:
            pick = np.nanmin if metric in LOWER_IS_BETTER else np.nanmax
            best = scored & (printed == pick(printed))
        block[f"{metric}_best"] = best
    return block


# --- its renderings -------------------------------------------------------------------------


def paper_table_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The table as display strings, one row per row of :func:`paper_table`: the names, the
    seeds, and per metric ``mean ± std``, bold where best, then the relative change in
    brackets (``**84.00 ± 2.00** (+2.4%)``; ``–`` where no run scored the metric)."""
    cells = pd.DataFrame({
        "Dataset": table["dataset"], "Protocol": table["protocol"], "Model": table["model"],
        "Seeds": table["n_seeds"].map(str),
    })
    for metric in PAPER_METRICS:
        column = []
        for mean, std, best, change in zip(
                table[f"{metric}_mean"], table[f"{metric}_std"], table[f"{metric}_best"],
                table[f"{metric}_rel_change"], strict=True):
            text = bold(mean_std_text(mean, std)) if best else mean_std_text(mean, std)
            column.append(text if math.isnan(change) else f"{text} ({percent_text(change)})")
        cells[METRIC_HEADERS[metric]] = pd.Series(column, index=table.index, dtype=object)
    return cells.astype(object)


def paper_table_document(table: pd.DataFrame) -> Document:
    """The table with its legend below it, for the Markdown file and the HTML page."""
    if table.empty:
        return Document("Results table", intro=["No evaluated runs yet: nothing to tabulate."])
    notes = [LEGEND] + ([RELEASED_LEGEND] if _has_released(table) else [])
    return Document("Results table", table=paper_table_cells(table), notes=notes,
                    names=NAME_HEADERS, right_aligned=["Seeds", *METRIC_HEADERS.values()])


def _has_released(table: pd.DataFrame) -> bool:
    return bool(table["model"].map(released_model).notna().any())


def paper_table_latex(table: pd.DataFrame) -> str:
    """A booktabs ``table`` float for the paper: one block per dataset and protocol, its names
    on the block's first row only, a rule between blocks; best cells in ``\\textbf``.

    Needs ``\\usepackage{booktabs}`` in the paper's preamble.
    """
    cells = paper_table_cells(table).reset_index(drop=True)
    opens_block = ~table.duplicated(["dataset", "protocol"]).to_numpy()
    cells.loc[~opens_block, ["Dataset", "Protocol"]] = ""
    latex = to_latex(
        cells, names=NAME_HEADERS, column_format="@{}lllr" + "c" * len(PAPER_METRICS) + "@{}",
        caption=(LATEX_CAPTION + (LATEX_RELEASED if _has_released(table) else "")
                 if len(table) else "No evaluated runs yet."), label=LATEX_LABEL,
        rules_above=np.flatnonzero(opens_block)[1:].tolist())
    return ("% Generated by weaklesion (python -m weaklesion table); needs "
            "\\usepackage{booktabs}.\n" + latex)
