"""The files of the analysis: which each writer makes, from what, and writing them.

Two writers, as in the workflow, where ``make_tables`` needs what ``compare_models`` wrote:

- ``compare_models``: :func:`render_comparisons` turns the stacked per-lesion metrics
  (:func:`weaklesion.analysis.runs.read_run_metrics`) into the :data:`COMPARISON_FILES`, the
  paired comparisons and the ablations;
- ``make_tables``: :func:`render_tables` turns the runs' summaries
  (:func:`weaklesion.analysis.runs.collect_runs_from`) into the :data:`TABLE_FILES`, the
  paper's table and its comparison with the published numbers, with the lines on the paper's
  claim read from the comparisons.

Each render function returns the text of every file keyed as the rule's outputs;
:func:`write_outputs` writes them atomically. ``python -m weaklesion table`` does the same for
a whole results folder (:func:`write_comparisons`, :func:`write_tables`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from weaklesion import layout
from weaklesion.analysis.ablations import ablation_document, ablation_table
from weaklesion.analysis.comparisons import comparisons_document, paired_comparisons
from weaklesion.analysis.formatting import to_csv, to_html, to_markdown
from weaklesion.analysis.paper_table import paper_table, paper_table_document, paper_table_latex
from weaklesion.analysis.runs import collect_runs, read_run_metrics
from weaklesion.analysis.vs_paper import paper_claim_lines, vs_paper, vs_paper_document
from weaklesion.errors import MissingFilesError
from weaklesion.utilities.atomic import write_text

TABLE_FILES = {
    "paper_md": "paper_table.md",
    "paper_tex": "paper_table.tex",
    "paper_csv": "paper_table.csv",
    "vs_paper_md": "vs_paper.md",
    "vs_paper_csv": "vs_paper.csv",
    "paper_html": "paper_table.html",
    "vs_paper_html": "vs_paper.html",
}
"""Output key (the ``make_tables`` rule's output names) → file name."""

COMPARISON_FILES = {
    "comparisons_md": "comparisons.md",
    "comparisons_csv": "comparisons.csv",
    "comparisons_html": "comparisons.html",
    "ablations_md": "ablations.md",
    "ablations_csv": "ablations.csv",
    "ablations_html": "ablations.html",
}
"""Output key (the ``compare_models`` rule's output names) → file name."""


# --- the texts ----------------------------------------------------------------------------------


def render_tables(runs: pd.DataFrame, formats: Mapping[str, str] | None = None,
                  claims: Sequence[str] = ()) -> dict[str, str]:
    """The text of every :data:`TABLE_FILES` file from the runs; ``formats``: see
    :func:`weaklesion.analysis.vs_paper.vs_paper`; ``claims``: the lines of
    :func:`weaklesion.analysis.vs_paper.paper_claim_lines`, shown in vs_paper."""
    table = paper_table(runs)
    paper_document = paper_table_document(table)
    comparison = vs_paper(runs, formats)
    comparison_document = vs_paper_document(comparison, claims)
    return {
        "paper_md": to_markdown(paper_document),
        "paper_tex": paper_table_latex(table),
        "paper_csv": to_csv(table),
        "vs_paper_md": to_markdown(comparison_document),
        "vs_paper_csv": to_csv(comparison),
        "paper_html": to_html(paper_document),
        "vs_paper_html": to_html(comparison_document),
    }


def render_comparisons(metrics: pd.DataFrame, formats: Mapping[str, str],
                       defaults: Mapping[str, Mapping[str, object]] | None = None
                       ) -> dict[str, str]:
    """The text of every :data:`COMPARISON_FILES` file from the stacked per-lesion metrics.
    ``formats``: dataset → format (which published numbers a dataset's claim line compares
    with); ``defaults``: dataset → ablated setting → its configured value, which labels the
    default run in the ablation table ("default" where not given)."""
    comparisons = paired_comparisons(metrics)
    claims = paper_claim_lines(comparisons, dict(formats))
    known = {dataset: dict(values) for dataset, values in (defaults or {}).items()}
    for dataset, variant in metrics[["dataset", "variant"]].drop_duplicates().itertuples(
            index=False):
        if variant != layout.DEFAULT_VARIANT:
            setting, _ = layout.split_variant(variant)
            known.setdefault(dataset, {}).setdefault(setting, layout.DEFAULT_VARIANT)
    ablations = ablation_table(metrics, known)
    comparisons_page, ablations_page = (comparisons_document(comparisons, claims),
                                        ablation_document(ablations))
    return {
        "comparisons_md": to_markdown(comparisons_page),
        "comparisons_csv": to_csv(comparisons),
        "comparisons_html": to_html(comparisons_page),
        "ablations_md": to_markdown(ablations_page),
        "ablations_csv": to_csv(ablations),
        "ablations_html": to_html(ablations_page),
    }


# --- the files ----------------------------------------------------------------------------------


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
    """The :data:`TABLE_FILES` in ``out_dir`` from every run's summary.json under
    ``results_dir`` (``claims``: see :func:`render_tables`); the paths written."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    runs = collect_runs(results_dir, formats)
    if runs.empty:
        where = "does not exist" if not results_dir.is_dir() else "holds no run summaries"
        raise MissingFilesError(
            f"{results_dir} {where}: looked for "
            f"{results_dir}/<dataset>/<protocol>/<model>/seed<N>/summary.json, which the "
            "workflow's evaluate step writes"
        )
    return write_outputs(render_tables(runs, formats, claims),
                         {key: out_dir / name for key, name in TABLE_FILES.items()})


def write_comparisons(results_dir: str | os.PathLike, out_dir: str | os.PathLike,
                      formats: Mapping[str, str]) -> list[Path]:
    """The :data:`COMPARISON_FILES` in ``out_dir`` from every run's metrics.parquet under
    ``results_dir``, the ablations' included; the paths written."""
    metrics = read_run_metrics(layout.find_run_files(results_dir, "metrics.parquet"))
    return write_outputs(render_comparisons(metrics, formats),
                         {key: Path(out_dir) / name for key, name in COMPARISON_FILES.items()})
