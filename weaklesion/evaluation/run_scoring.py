"""Scoring one workflow run: per-lesion metrics of its evaluated set
(:mod:`weaklesion.evaluation.evaluated_set`), their means, and the predicted masks, written
as ``metrics.parquet``, ``summary.json`` and ``test_predictions.h5``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from weaklesion.datasets.patch_store import write_masks
from weaklesion.evaluation.metrics import METRIC_COLUMNS, lesion_metrics
from weaklesion.utilities.atomic import atomic_path, write_text


def score_test_split(predicted: np.ndarray, target: np.ndarray,
                     lesion_ids: np.ndarray) -> pd.DataFrame:
    """Per-lesion metrics; empty predictions get the evaluated set's largest errors (the
    paper's rule)."""
    table = lesion_metrics(target, predicted)
    table.insert(0, "lesion_id", lesion_ids)
    return table


def summarise(table: pd.DataFrame, extra: dict[str, Any]) -> dict[str, Any]:
    # A column without any scoreable lesion (all GT empty) is null, since JSON has no NaN.
    means = table[METRIC_COLUMNS].mean()
    summary = {column: None if np.isnan(v) else float(v) for column, v in means.items()}
    summary.update(n_lesions=len(table), n_empty_predictions=int(table["pred_empty"].sum()),
                   **extra)
    return summary


def write_evaluation(table: pd.DataFrame, summary: dict[str, Any], metrics_path: Path,
                     summary_path: Path, predictions_path: Path, predicted: np.ndarray) -> None:
    """Per-lesion metrics, their means, and the predicted test masks (for figures and for
    users comparing methods lesion by lesion)."""
    write_masks(predictions_path, "prediction", predicted, table["lesion_id"])
    with atomic_path(metrics_path, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)
    write_text(summary_path, json.dumps(summary, indent=2, sort_keys=True) + "\n")
