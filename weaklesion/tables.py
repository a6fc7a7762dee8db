"""The paper's results table from the trained runs, and how it compares with the published one.

Each evaluated run leaves ``results/<dataset>/<protocol>/<model>/seed<N>/summary.json`` (the
metric means of its evaluated set). Between reading those and writing files, everything is a
pure function of DataFrames:

- :func:`collect_runs` / :func:`collect_runs_from`: one row per run;
- :func:`paper_table`: the paper's layout, one row per dataset × protocol × model with each
  metric's mean and std over seeds, the relative change against A1 and the best cell per
  dataset and protocol;
- :func:`to_markdown`, :func:`to_latex`, :func:`to_csv`: renderings of that table;
- :func:`vs_paper`, :func:`vs_paper_markdown`: the ``paper`` rows against the published
  numbers, the ``corrected`` rows beside them;
- :func:`render_tables`, :func:`write_outputs`, :func:`write_tables`: the five files.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from weaklesion.atomic import write_text
from weaklesion.errors import MissingFilesError, WeaklesionError
from weaklesion.metrics import LOWER_IS_BETTER, METRIC_COLUMNS, PAPER_METRICS

log = logging.getLogger(__name__)

METRIC_LABELS = {
    "iou": "IoU",
    "dice": "Dice",
    "vs": "VS",
    "center_error": "Centre error",
    "perimeter_error": "Perimeter error",
    "hausdorff": "Hausdorff",
}

MODEL_ORDER = ("A1", "ACoseg", "A1+L")
"""Row order within a dataset, as in the paper; other models follow, sorted by name."""

BASELINE_MODEL = "A1"

PUBLISHED_DATASET = {"ham10000": "ham10k", "lits": "lits", "deeplesion": "deeplesion"}
"""Dataset format → its name in ``weaklesion/paper/published_table.csv``."""

SUMMARY_PATTERN = "*/*/*/seed*/summary.json"
"""Where :func:`collect_runs` looks, relative to the results folder."""

OUTPUT_FILES = {
    "paper_md": "paper_table.md",
    "paper_tex": "paper_table.tex",
    "paper_csv": "paper_table.csv",
    "vs_paper_md": "vs_paper.md",
    "vs_paper_csv": "vs_paper.csv",
    "paper_html": "paper_table.html",
    "vs_paper_html": "vs_paper.html",
}
"""Output key (the workflow rule's output names) → file name used by :func:`write_tables`."""

DECIMALS = 2  # the paper prints two decimals; "best" is decided on the printed values
WITHIN_STDS = 2
# Lets a published mean lying exactly on mean ± 2 std count as within despite float rounding.
_WITHIN_TOLERANCE = 1e-9

PROTOCOL_ORDER = ("paper", "corrected")
COMPARED_PROTOCOL = "paper"  # the protocol whose rows stand against the published numbers

RUN_COLUMNS = ["dataset", "protocol", "format", "model", "seed", "reference", "n_lesions",
               *METRIC_COLUMNS, "summary"]

TABLE_COLUMNS = ["dataset", "protocol", "model", "n_seeds"] + [
    f"{metric}_{part}" for metric in PAPER_METRICS for part in ("mean", "std", "rel_change", "best")
]

VS_PAPER_COLUMNS = ["dataset", "published_dataset", "model", "metric", "published_mean",
                    "published_std", "reproduced_mean", "reproduced_std", "n_seeds",
                    "difference", "within_2std", "verdict", "corrected_mean", "corrected_std",
                    "corrected_n_seeds", "corrected_difference"]

_SEED_DIR = re.compile(r"seed\d+")


# --- reading runs -------------------------------------------------------------------------------


def collect_runs(results_dir: str | os.PathLike,
                 formats: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per ``<results_dir>/<dataset>/<protocol>/<model>/seed<N>/summary.json`` found.

    Columns: :data:`RUN_COLUMNS`. ``formats`` maps dataset → format; a dataset missing from it
    takes the ``format`` attribute of its ``data.h5``, or None when that is absent.
    """
    found = sorted(p for p in Path(results_dir).glob(SUMMARY_PATTERN)
                   if _SEED_DIR.fullmatch(p.parent.name))
    return collect_runs_from(found, formats)


def collect_runs_from(paths: Iterable[str | os.PathLike],
                      formats: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Like :func:`collect_runs`, for an explicit list of summary.json files (the workflow's)."""
    paths = [Path(p) for p in paths]
    rows = [_read_summary(path) for path in paths]
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS).astype(
        {"seed": "int64", **dict.fromkeys(METRIC_COLUMNS, "float64")})
    _check_unique(runs)
    known = dict(formats or {})
    for dataset, summary in zip(runs["dataset"], paths, strict=True):
        if dataset not in known:
            # results/<dataset>/<protocol>/<model>/seed<N>/summary.json → the data.h5 beside
            known[dataset] = _format_from_store(summary.parent.parent.parent / "data.h5")
    runs["format"] = runs["dataset"].map(known).astype(object)
    return runs


def _read_summary(path: Path) -> dict:
    try:
        summary = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise MissingFilesError(
            f"{path}: run summary not found; the workflow's evaluate step writes it"
        ) from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeaklesionError(f"{path}: not a readable JSON run summary ({error})") from error
    if not isinstance(summary, dict):
        raise WeaklesionError(f"{path}: a run summary must be a JSON object, "
                              f"got {type(summary).__name__}")
    row = {"summary": str(path), "format": None,
           "reference": summary.get("reference"), "n_lesions": summary.get("n_lesions")}
    # Summaries from before protocols were an axis name none; their folder does.
    summary.setdefault("protocol", path.parent.parent.parent.name)
    for key in ("dataset", "protocol", "model"):
        value = summary.get(key)
        if not isinstance(value, str) or not value:
            raise WeaklesionError(f"{path}: key {key!r} must be a non-empty string, got {value!r}")
        row[key] = value
    seed = summary.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise WeaklesionError(f"{path}: key 'seed' must be an integer, got {seed!r}")
    row["seed"] = seed
    for metric in METRIC_COLUMNS:
        if metric not in summary and metric in PAPER_METRICS:
            raise WeaklesionError(f"{path}: key {metric!r} is missing; a run summary holds the "
                                  f"means of {', '.join(PAPER_METRICS)} (null when unscored)")
        row[metric] = _metric_value(summary.get(metric), path, metric)
    return row


def _metric_value(value, path: Path, metric: str) -> float:
    if value is None:  # JSON has no NaN: an unscoreable metric is null
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WeaklesionError(f"{path}: key {metric!r} must be a number or null, got {value!r}")
    return float(value)


def _check_unique(runs: pd.DataFrame) -> None:
    key = ["dataset", "protocol", "model", "seed"]
    repeated = runs[runs.duplicated(key, keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        same = repeated[(repeated[key] == first[key]).all(axis=1)]["summary"]
        raise WeaklesionError(
            f"run {first['dataset']}/{first['protocol']}/{first['model']}/seed {first['seed']} "
            f"is given by more than one summary: {', '.join(same)}; keep one"
        )


def _format_from_store(data_h5: Path) -> str | None:
    if not data_h5.is_file():
        return None
    try:
        with h5py.File(data_h5, "r") as h5:
            value = h5.attrs.get("format")
    except OSError as error:
        log.warning("%s: cannot read its format attribute (%s); format unknown", data_h5, error)
        return None
    if isinstance(value, bytes):
        value = value.decode()
    return None if value is None else str(value)


# --- the paper's table --------------------------------------------------------------------------


def paper_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset × protocol × model: mean, std, relative change against A1, best flag
    per metric.

    Datasets keep their order in ``runs``, protocols follow :data:`PROTOCOL_ORDER` and models
    :data:`MODEL_ORDER`. Columns are :data:`TABLE_COLUMNS`. ``<metric>_std`` is the sample std
    (ddof=1) over seeds, NaN with fewer than two values. ``<metric>_rel_change`` is the fraction
    (model − A1) / A1 of the same dataset and protocol, NaN for A1 itself or without an A1 row.
    ``<metric>_best`` marks the highest (``iou``, ``dice``, ``vs``) or lowest (errors) mean of a
    dataset and protocol as printed with :data:`DECIMALS` decimals, all of them on a tie, and
    only where at least two models have a value.
    """
    stats = _seed_statistics(runs)
    table = stats.drop(columns=[f"{m}_count" for m in PAPER_METRICS])
    blocks = [_compare_models(block)
              for _, block in table.groupby(["dataset", "protocol"], sort=False)]
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


def _seed_statistics(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × protocol × model (in table order): n_seeds, and each metric's mean, std
    and count."""
    rows = []
    for dataset, group in runs.groupby("dataset", sort=False):
        for protocol in ordered_protocols(group["protocol"].unique()):
            in_protocol = group[group["protocol"] == protocol]
            for model in ordered_models(in_protocol["model"].unique()):
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


def ordered_protocols(protocols: Iterable[str]) -> list[str]:
    """``paper`` before ``corrected``, then any others sorted by name."""
    protocols = set(protocols)
    return ([p for p in PROTOCOL_ORDER if p in protocols]
            + sorted(protocols.difference(PROTOCOL_ORDER)))


def ordered_models(models: Iterable[str]) -> list[str]:
    """The paper's models in its order, then any others sorted by name."""
    models = set(models)
    return [m for m in MODEL_ORDER if m in models] + sorted(models.difference(MODEL_ORDER))


def _compare_models(block: pd.DataFrame) -> pd.DataFrame:
    """Relative change against A1 and best flags within one dataset's rows of one protocol."""
    block = block.copy()
    is_baseline = (block["model"] == BASELINE_MODEL).to_numpy()
    for metric in PAPER_METRICS:
        means = block[f"{metric}_mean"].to_numpy(dtype=float)
        baseline = means[is_baseline][0] if is_baseline.any() else math.nan
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


# --- renderings of the paper's table ------------------------------------------------------------


def to_markdown(table: pd.DataFrame) -> str:
    """The table as GitHub Markdown: ``mean ± std (+x.x%)``, best cells in bold, a legend."""
    if table.empty:
        return "No evaluated runs yet: nothing to tabulate.\n"
    arrows = {m: "↓" if m in LOWER_IS_BETTER else "↑" for m in PAPER_METRICS}
    header = ["Dataset", "Protocol", "Model", "Seeds",
              *(f"{METRIC_LABELS[m]} {arrows[m]}" for m in PAPER_METRICS)]
    lines = [_markdown_row(header), "|" + "|".join(["---"] * 3 + ["---:"] * 7) + "|"]
    for _, row in table.iterrows():
        cells = [markdown_escape(row["dataset"]), markdown_escape(row["protocol"]),
                 markdown_escape(row["model"]), str(row["n_seeds"])]
        for metric in PAPER_METRICS:
            value = _value_text(row[f"{metric}_mean"], row[f"{metric}_std"], " ± ", "–")
            if row[f"{metric}_best"]:
                value = f"**{value}**"
            change = row[f"{metric}_rel_change"]
            if not math.isnan(change):
                value += f" ({_percent(change)})"
            cells.append(value)
        lines.append(_markdown_row(cells))
    legend = (
        "Test-set metrics, mean ± sample std over seeds (no std with a single seed). "
        "In brackets: relative change against A1 of the same dataset and protocol, "
        "(model − A1) / A1. Bold: best per dataset, protocol and column (↑ higher is better, "
        "↓ lower is better). Protocol paper is the released code step for step, corrected "
        "fixes its defects (docs/protocols.md). "
        "IoU, Dice and VS in percent; the errors in pixels of the 120×120 patch; "
        "Hausdorff is the column the paper calls AVD."
    )
    return "\n".join(lines) + "\n\n" + legend + "\n"


def _markdown_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


_MARKDOWN_SPECIAL = frozenset("\\`*_[]<>|")


def markdown_escape(text: str) -> str:
    """``text`` shown literally in a Markdown table cell."""
    return "".join(f"\\{c}" if c in _MARKDOWN_SPECIAL else c for c in str(text))


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}


def latex_escape(text: str) -> str:
    """``text`` shown literally in LaTeX text mode."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def to_latex(table: pd.DataFrame, caption: str | None = None,
             label: str = "tab:weaklesion-results") -> str:
    """A booktabs ``table`` environment: datasets × protocols in blocks, best cells in
    ``\\textbf``.

    Needs ``\\usepackage{booktabs}`` in the paper's preamble.
    """
    if caption is None:
        caption = (r"Test-set results, mean $\pm$ sample std over seeds; in brackets the "
                   r"relative change against A1, (model $-$ A1) / A1. Best per dataset and "
                   r"protocol in bold "
                   r"($\uparrow$ higher is better, $\downarrow$ lower is better). IoU, Dice and "
                   r"VS in \%, errors in pixels.")
    arrows = {m: r"$\downarrow$" if m in LOWER_IS_BETTER else r"$\uparrow$" for m in PAPER_METRICS}
    header = ["Dataset", "Protocol", "Model", "Seeds",
              *(f"{latex_escape(METRIC_LABELS[m])} {arrows[m]}" for m in PAPER_METRICS)]
    n_columns = len(header)
    lines = [
        "% Generated by weaklesion (python -m weaklesion table); needs \\usepackage{booktabs}.",
        r"\begin{table}[htbp]",
        r"  \centering",
        r"  \small",
        f"  \\caption{{{caption}}}",
        f"  \\label{{{label}}}",
        r"  \begin{tabular}{@{}lllr" + "c" * len(PAPER_METRICS) + "@{}}",
        r"    \toprule",
        "    " + " & ".join(header) + r" \\",
        r"    \midrule",
    ]
    if table.empty:
        lines.append(f"    \\multicolumn{{{n_columns}}}{{c}}{{No evaluated runs yet.}} \\\\")
    for index, (_, block) in enumerate(table.groupby(["dataset", "protocol"], sort=False)):
        if index:
            lines.append(r"    \midrule")
        for position, (_, row) in enumerate(block.iterrows()):
            cells = [latex_escape(row["dataset"]) if position == 0 else "",
                     latex_escape(row["protocol"]) if position == 0 else "",
                     latex_escape(row["model"]), str(row["n_seeds"])]
            cells += [_latex_cell(row, metric) for metric in PAPER_METRICS]
            lines.append("    " + " & ".join(cells) + r" \\")
    lines += [r"    \bottomrule", r"  \end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _latex_cell(row: pd.Series, metric: str) -> str:
    value = _value_text(row[f"{metric}_mean"], row[f"{metric}_std"], r" $\pm$ ", "--")
    if row[f"{metric}_best"]:
        value = f"\\textbf{{{value}}}"
    change = row[f"{metric}_rel_change"]
    if not math.isnan(change):
        # A typeset minus, not a hyphen; % is a comment character in LaTeX.
        value += " (" + _percent(change).replace("-", "$-$").replace("%", r"\%") + ")"
    return value


def to_csv(table: pd.DataFrame) -> str:
    """The table with numeric columns (:data:`TABLE_COLUMNS`); rel_change as a fraction."""
    return table.to_csv(index=False, lineterminator="\n")


def _value_text(mean: float, std: float, plus_minus: str, missing: str) -> str:
    if math.isnan(mean):
        return missing
    text = f"{mean:.{DECIMALS}f}"
    if not math.isnan(std):
        text += f"{plus_minus}{std:.{DECIMALS}f}"
    return text


def _percent(fraction: float) -> str:
    percent = round(fraction * 100, 1)
    return f"{percent + 0.0:+.1f}%"  # + 0.0 turns a rounded -0.0 into 0.0


# --- comparison with the published numbers ------------------------------------------------------


def published_table() -> pd.DataFrame:
    """The paper's published cells (``weaklesion/paper/published_table.csv``)."""
    source = resources.files("weaklesion") / "paper" / "published_table.csv"
    with source.open("r") as stream:
        return pd.read_csv(stream)


def vs_paper(runs: pd.DataFrame, formats: Mapping[str, str] | None = None,
             published: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``paper`` protocol's runs against the published numbers, one row per dataset × model
    × metric, with the ``corrected`` protocol's runs beside them.

    A dataset is matched to the paper's by its format (:data:`PUBLISHED_DATASET`); ``formats``
    (dataset → format, the configured datasets) defaults to the runs' ``format`` column. Only
    dataset × model pairs present on both sides appear. ``within_2std`` says whether the
    published mean lies within the ``paper`` runs' mean ± 2 std; it is NA (``verdict`` says
    why) with fewer than two seeds, since no std exists then, or without ``paper`` runs.
    ``corrected_*`` hold the ``corrected`` runs' mean, std, seeds and difference from the
    published mean (NaN without such runs). Columns: :data:`VS_PAPER_COLUMNS`.
    """
    published = published_table() if published is None else published
    if formats is None:
        formats = dict(zip(runs["dataset"], runs["format"], strict=True))
    stats = _seed_statistics(runs[runs["dataset"].isin(list(formats))])
    by_protocol = {protocol: block.set_index(["dataset", "model"])
                   for protocol, block in stats.groupby("protocol", sort=False)}
    published = published.set_index(["dataset", "model"])
    rows = []
    for dataset, model in stats[["dataset", "model"]].drop_duplicates().itertuples(index=False):
        paper_name = PUBLISHED_DATASET.get(formats[dataset])
        if (paper_name, model) not in published.index:
            continue
        own = {protocol: block.loc[(dataset, model)] if (dataset, model) in block.index
               else None for protocol, block in by_protocol.items()}
        for metric in PAPER_METRICS:
            rows.append(_comparison_row(dataset, model, own, published.loc[(paper_name, model)],
                                        paper_name, metric))
    comparison = pd.DataFrame(rows, columns=VS_PAPER_COLUMNS)
    comparison["within_2std"] = comparison["within_2std"].astype("boolean")
    for column in ("n_seeds", "corrected_n_seeds"):
        comparison[column] = comparison[column].astype("int64")
    return comparison


def _cell(row: pd.Series | None, metric: str) -> tuple[float, float, int]:
    if row is None:
        return math.nan, math.nan, 0
    return row[f"{metric}_mean"], row[f"{metric}_std"], int(row[f"{metric}_count"])


def _comparison_row(dataset: str, model: str, own: Mapping[str, pd.Series | None],
                    paper: pd.Series, paper_name: str, metric: str) -> dict:
    mean, std, count = _cell(own.get(COMPARED_PROTOCOL), metric)
    corrected_mean, corrected_std, corrected_count = _cell(own.get("corrected"), metric)
    published_mean = float(paper[f"{metric}_mean"])
    difference = mean - published_mean
    if count == 0:
        within, verdict = pd.NA, "not decidable: no paper-protocol run"
    elif math.isnan(mean):
        within, verdict = pd.NA, "not decidable: no reproduced value"
    elif count < 2:
        within, verdict = pd.NA, f"not decidable: {count} seed, no std"
    else:
        within = bool(abs(difference) <= WITHIN_STDS * std + _WITHIN_TOLERANCE)
        verdict = "within" if within else "outside"
    return {
        "dataset": dataset, "published_dataset": paper_name, "model": model,
        "metric": metric, "published_mean": published_mean,
        "published_std": float(paper[f"{metric}_std"]), "reproduced_mean": mean,
        "reproduced_std": std, "n_seeds": count, "difference": difference,
        "within_2std": within, "verdict": verdict, "corrected_mean": corrected_mean,
        "corrected_std": corrected_std, "corrected_n_seeds": corrected_count,
        "corrected_difference": corrected_mean - published_mean,
    }


def vs_paper_markdown(comparison: pd.DataFrame, claims: Sequence[str] = ()) -> str:
    """The comparison as Markdown: a legend, a count of agreements, the lines on the paper's
    claim (:func:`weaklesion.comparison_tables.paper_claim_lines`) and the table."""
    if comparison.empty:
        return ("No evaluated run belongs to a dataset the paper reports (formats "
                f"{', '.join(PUBLISHED_DATASET)}), so there is nothing to compare with the "
                "published numbers.\n" + "".join(f"\n- {claim}\n" for claim in claims))
    decided = comparison["within_2std"].dropna()
    undecided = len(comparison) - len(decided)
    lines = [
        "Published: mean ± std as printed in Chu et al., MIDL 2021. Reproduced: mean ± sample "
        "std over this workflow's seeds under protocol paper (the released code step for "
        "step). Difference: reproduced − published. Within ±2 std: whether the published "
        "mean lies within the reproduced mean ± 2 std (not decidable with a single seed, "
        "which has no std). Corrected: the same model under protocol corrected, which fixes "
        "the released code's defects, and its difference from the published mean.",
        "",
        f"The published mean lies within the reproduced mean ± 2 std in {int(decided.sum())} "
        f"of {len(decided)} decidable cells"
        + (f"; {undecided} cells are not decidable." if undecided else "."),
        "",
        *(f"- {claim}" for claim in claims),
        *([""] if claims else []),
        _markdown_row(["Dataset", "Paper's dataset", "Model", "Metric", "Published",
                       "Reproduced", "Seeds", "Difference", "Within ±2 std", "Corrected",
                       "Corrected − published"]),
        "|" + "|".join(["---"] * 4 + ["---:"] * 4 + ["---"] + ["---:"] * 2) + "|",
    ]
    for _, row in comparison.iterrows():
        lines.append(_markdown_row([
            markdown_escape(row["dataset"]), row["published_dataset"],
            markdown_escape(row["model"]), METRIC_LABELS[row["metric"]],
            _value_text(row["published_mean"], row["published_std"], " ± ", "–"),
            _value_text(row["reproduced_mean"], row["reproduced_std"], " ± ", "–"),
            str(row["n_seeds"]), _signed(row["difference"]),
            {"within": "yes", "outside": "no"}.get(row["verdict"], row["verdict"]),
            _value_text(row["corrected_mean"], row["corrected_std"], " ± ", "–"),
            _signed(row["corrected_difference"]),
        ]))
    return "\n".join(lines) + "\n"


def _signed(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:+.{DECIMALS}f}"


_HTML_STYLE = (
    "body{font-family:system-ui,sans-serif;font-size:14px;margin:1em}"
    "table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #ddd}"
    "th{text-align:left;border-bottom:2px solid #444}td.num{text-align:right}"
)


def markdown_to_html(text: str, title: str) -> str:
    """A self-contained HTML page of one of this module's Markdown documents (paragraphs and
    pipe tables, ``**bold**``), for the HTML report, which shows HTML but not Markdown."""
    blocks, table = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            blocks.append(_html_table(table))
            table = []
        if line.strip():
            blocks.append(f"<p>{_inline_html(line)}</p>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_HTML_STYLE}</style></head><body>{''.join(blocks)}</body></html>\n")


def _html_table(lines: list[str]) -> str:
    def cells(line: str) -> list[str]:
        return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]

    header, alignments, *rows = lines
    numeric = [a.endswith(":") for a in cells(alignments)]
    head = "".join(f"<th>{_inline_html(c)}</th>" for c in cells(header))
    body = "".join(
        "<tr>" + "".join(f"<td class='num'>{_inline_html(c)}</td>" if right
                         else f"<td>{_inline_html(c)}</td>"
                         for c, right in zip(cells(row), numeric, strict=False)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _inline_html(text: str) -> str:
    escaped = html.escape(re.sub(r"\\(.)", r"\1", text))
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)


# --- the files ----------------------------------------------------------------------------------


def render_tables(runs: pd.DataFrame, formats: Mapping[str, str] | None = None,
                  claims: Sequence[str] = ()) -> dict[str, str]:
    """The text of every output file, keyed as :data:`OUTPUT_FILES`; ``claims`` are lines
    for vs_paper on whether the paired A1+L − A1 differences agree with the paper."""
    table = paper_table(runs)
    comparison = vs_paper(runs, formats)
    return {
        "paper_md": to_markdown(table),
        "paper_tex": to_latex(table),
        "paper_csv": to_csv(table),
        "vs_paper_md": vs_paper_markdown(comparison, claims),
        "vs_paper_csv": comparison.to_csv(index=False, lineterminator="\n"),
        "paper_html": markdown_to_html(to_markdown(table), "Results table"),
        "vs_paper_html": markdown_to_html(vs_paper_markdown(comparison, claims),
                                          "Reproduced vs published"),
    }


def write_outputs(texts: Mapping[str, str],
                  paths: Mapping[str, str | os.PathLike]) -> list[Path]:
    """Write each text to the path of the same key, atomically; the paths written."""
    written = []
    for key, text in texts.items():
        write_text(paths[key], text)
        written.append(Path(paths[key]))
    return written


def write_tables(results_dir: str | os.PathLike, out_dir: str | os.PathLike,
                 formats: Mapping[str, str] | None = None,
                 claims: Sequence[str] = ()) -> list[Path]:
    """Tabulate every run under ``results_dir`` into the :data:`OUTPUT_FILES` in ``out_dir``
    (``claims``: see :func:`render_tables`)."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    runs = collect_runs(results_dir, formats)
    if runs.empty:
        where = "does not exist" if not results_dir.is_dir() else "holds no run summaries"
        raise MissingFilesError(
            f"{results_dir} {where}: looked for {results_dir / SUMMARY_PATTERN}, which the "
            "workflow's evaluate step writes"
        )
    return write_outputs(render_tables(runs, formats, claims),
                         {key: out_dir / name for key, name in OUTPUT_FILES.items()})
