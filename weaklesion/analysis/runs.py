"""The evaluated runs, read back from the files the evaluate step leaves in each run's folder
(``results/<dataset>/<protocol>[/ablations/<variant>]/<model>/seed<N>/``,
:mod:`weaklesion.layout`):

- :func:`collect_runs` (a results folder) and :func:`collect_runs_from` (the workflow's list
  of files): one row per run from its ``summary.json``, the means of the paper's metrics over
  the run's evaluated lesions. The paper's table and the comparison with the published numbers
  start here. A released checkpoint of the paper (``<model>/released/``) is a run of its own,
  its model named ``A1 (released)`` (:func:`weaklesion.models.released_label`), without a
  seed.
- :func:`read_run_metrics`: every run's ``metrics.parquet`` (one row per lesion) stacked, the
  run's identity in front, and :func:`run_means`, each run's means of those rows. The paired
  comparisons and the ablations start here.

A summary names its run's dataset, protocol, model and seed itself (checked here); a
per-lesion file is placed by where it lies (:func:`weaklesion.layout.parse_run`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import h5py
import pandas as pd

from weaklesion import layout
from weaklesion.errors import MissingFilesError, WeaklesionError
from weaklesion.evaluation.metrics import METRIC_COLUMNS, PAPER_METRICS
from weaklesion.models import released_label

log = logging.getLogger(__name__)

RUN_COLUMNS = ["dataset", "protocol", "format", "model", "seed", "reference", "n_lesions",
               *METRIC_COLUMNS, "summary"]
"""The columns of :func:`collect_runs`: a run, its dataset's format, its summary's values and
the summary's path. ``seed`` is NA for a released model."""

RUN_KEYS = ["dataset", "protocol", "variant", "model", "seed"]
"""What tells one run of :func:`read_run_metrics` from another."""


# --- summary.json: one row per run ----------------------------------------------------------


def collect_runs(results_dir: str | os.PathLike,
                 formats: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per ``<results_dir>/<dataset>/<protocol>/<model>/seed<N>/summary.json`` (the
    ablations' runs are not the paper's table's). Columns: :data:`RUN_COLUMNS`.

    ``formats`` maps dataset → format; a dataset missing from it takes the ``format``
    attribute of its ``data.h5`` in ``results_dir`` (the first of its protocol folders that
    holds one), None where there is none.
    """
    runs = collect_runs_from(layout.find_run_files(results_dir, "summary.json", ablations=False)
                             + layout.find_released_files(results_dir, "summary.json"))
    known = dict(formats or {})
    for dataset, protocol in dict.fromkeys(zip(runs["dataset"], runs["protocol"], strict=True)):
        if known.get(dataset) is None:
            known[dataset] = _format_from_store(_data_store(results_dir, dataset, protocol))
    return _with_formats(runs, known)


def collect_runs_from(paths: Iterable[str | os.PathLike],
                      formats: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Like :func:`collect_runs`, for a list of summary.json files (the workflow's inputs);
    ``formats`` (the configured datasets') is the only source of the ``format`` column."""
    paths = [Path(p) for p in paths]
    runs = pd.DataFrame([_read_summary(path) for path in paths], columns=RUN_COLUMNS).astype(
        {"seed": "Int64", **dict.fromkeys(METRIC_COLUMNS, "float64")})
    _check_unique(runs)
    return _with_formats(runs, formats or {})


def _with_formats(runs: pd.DataFrame, formats: Mapping[str, str | None]) -> pd.DataFrame:
    runs["format"] = pd.Series([formats.get(d) for d in runs["dataset"]], index=runs.index,
                               dtype=object)
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
    for key in ("dataset", "protocol", "model"):
        value = summary.get(key)
        if not isinstance(value, str) or not value:
            raise WeaklesionError(f"{path}: key {key!r} must be a non-empty string, got {value!r}")
        row[key] = value
    seed = summary.get("seed")
    if summary.get("released"):  # the paper's own checkpoint: trained once, seed unknown
        row["model"], seed = released_label(row["model"]), pd.NA
    elif isinstance(seed, bool) or not isinstance(seed, int):
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
        # As text, so that a released model's NA seed equals itself.
        names = pd.Series([f"{r.dataset}/{r.protocol}/{r.model}/seed {r.seed}"
                           for r in repeated.itertuples()], index=repeated.index)
        same = repeated.loc[names == names.iloc[0], "summary"]
        raise WeaklesionError(f"run {names.iloc[0]} is given by more than one summary: "
                              f"{', '.join(same)}; keep one")


def _data_store(results_dir: str | os.PathLike, dataset: str, protocol: str) -> Path:
    # The layout's protocol folder lies under results/; this results folder may lie anywhere.
    folder = Path(layout.protocol_folder(dataset, protocol)).relative_to(layout.RESULTS)
    return Path(results_dir) / folder / "data.h5"


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


# --- metrics.parquet: one row per lesion and run --------------------------------------------


def read_run_metrics(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Every run's per-lesion metrics stacked: the :data:`RUN_KEYS` of the run (from where
    its file lies), ``lesion_id`` and the :data:`PAPER_METRICS`."""
    columns = [*RUN_KEYS, "lesion_id", *PAPER_METRICS]
    tables = []
    for path in paths:
        run = layout.parse_run(path)
        table = pd.read_parquet(path)
        missing = [c for c in ("lesion_id", *PAPER_METRICS) if c not in table.columns]
        if missing:
            raise WeaklesionError(f"{path}: per-lesion metrics lack {missing}; rerun evaluation")
        tables.append(table.assign(**{key: getattr(run, key) for key in RUN_KEYS})[columns])
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)


def run_means(metrics: pd.DataFrame, metric_names: Sequence[str] = PAPER_METRICS
              ) -> pd.DataFrame:
    """Each run's mean of each metric over its lesions (what its summary.json holds), one row
    per run: the :data:`RUN_KEYS` and the metrics."""
    return metrics.groupby(RUN_KEYS, sort=False)[list(metric_names)].mean().reset_index()
