"""Score a folder of predicted PNG masks against a folder of ground-truth PNG masks.

Files are paired by exact file stem: ``<id>.png`` in one folder goes with ``<id>.png`` in the
other (the extension may be upper case). Hidden files (``.*``, such as macOS ``._`` stubs) and
other file types are ignored; subfolders are not searched. A mask holds 0/255 or 0/1; an RGB or
RGBA image is accepted when its colour channels agree (alpha: opaque, or equal to them). The
two masks of a pair must have the same size: nothing is resized. File names must be valid
UTF-8, as the ids go into a CSV. Every problem found is an error that names the file, so a
run never scores a partial or silently altered set.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from weaklesion.datasets.imaging import check_name_is_utf8
from weaklesion.datasets.imaging import read_binary_mask as read_mask
from weaklesion.errors import BadImageError, MissingFilesError, WeaklesionError
from weaklesion.evaluation.metrics import fill_empty_predictions, lesion_metrics, window_diagonal

MASK_SUFFIX = ".png"
_LISTED_IDS = 10  # ids named in a "missing" message; the count covers the rest
_BATCH = 1024  # masks read and scored at a time, to bound memory on large folders


def score_folders(gt_dir: str | Path, pred_dir: str | Path) -> pd.DataFrame:
    """One row per id, sorted: ``id``, the metric columns, ``pred_empty``, ``gt_empty``.

    The folder is the test set of the empty-prediction rule (see
    :mod:`weaklesion.evaluation.metrics`); with masks of several sizes, the largest window
    diagonal is the fallback.
    """
    gt_files = mask_files(gt_dir, "ground-truth")
    pred_files = mask_files(pred_dir, "prediction")
    _check_pairs(gt_files, pred_files, Path(gt_dir), Path(pred_dir))

    ids = sorted(gt_files)
    tables = []
    problems: list[BadImageError] = []
    diagonal = 0.0
    for start in range(0, len(ids), _BATCH):
        batch, pairs = [], []
        for i in ids[start : start + _BATCH]:
            try:
                pairs.append(_read_pair(gt_files[i], pred_files[i]))
                batch.append(i)
            except BadImageError as error:
                problems.append(error)
        if problems:
            continue  # keep reading, to report every bad file at once
        for shape, members in _group_by_shape(pairs).items():
            gt = np.stack([pairs[k][0] for k in members])
            pred = np.stack([pairs[k][1] for k in members])
            table = lesion_metrics(gt, pred, fill_empty=False)
            table.insert(0, "id", [batch[k] for k in members])
            tables.append(table)
            diagonal = max(diagonal, window_diagonal(shape))
    _raise_bad_masks(problems)
    table = pd.concat(tables, ignore_index=True).sort_values("id", ignore_index=True)
    return fill_empty_predictions(table, diagonal)


def mask_files(folder: str | Path, role: str) -> dict[str, Path]:
    """``{stem: path}`` of the PNG masks directly in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFilesError(f"{role} folder {folder} does not exist or is not a folder")
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() != MASK_SUFFIX or not path.is_file():
            continue
        check_name_is_utf8(path)
        if path.stem in files:
            raise WeaklesionError(
                f"{role} masks {files[path.stem]} and {path} have the same id {path.stem!r}"
            )
        files[path.stem] = path
    if not files:
        raise MissingFilesError(f"{role} folder {folder} holds no {MASK_SUFFIX} masks")
    return files


def _read_pair(gt_path: Path, pred_path: Path) -> tuple[np.ndarray, np.ndarray]:
    gt = read_mask(gt_path)
    pred = read_mask(pred_path)
    if gt.shape != pred.shape:
        raise BadImageError(
            str(pred_path),
            f"mask is {_size(pred.shape)} but its ground truth {gt_path} is {_size(gt.shape)}; "
            "masks are not resized",
        )
    return gt, pred


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}×{shape[0]} (width×height)"


def _group_by_shape(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[tuple, list[int]]:
    groups: dict[tuple, list[int]] = {}
    for k, (gt, _) in enumerate(pairs):
        groups.setdefault(gt.shape, []).append(k)
    return groups


def _check_pairs(
    gt_files: dict[str, Path], pred_files: dict[str, Path], gt_dir: Path, pred_dir: Path
) -> None:
    missing = sorted(gt_files.keys() - pred_files.keys())
    unmatched = sorted(pred_files.keys() - gt_files.keys())
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} ground-truth mask(s) have no prediction in {pred_dir}: "
            f"{_list_ids(missing)}"
        )
    if unmatched:
        problems.append(
            f"{len(unmatched)} prediction(s) have no ground-truth mask in {gt_dir}: "
            f"{_list_ids(unmatched)}"
        )
    if problems:
        raise MissingFilesError(
            "; ".join(problems) + f" (files are paired by exact stem, <id>{MASK_SUFFIX})"
        )


def _raise_bad_masks(problems: list[BadImageError]) -> None:
    if len(problems) == 1:
        raise problems[0]
    if problems:
        lines = [str(problem) for problem in problems[:_LISTED_IDS]]
        if len(problems) > _LISTED_IDS:
            lines.append(f"… and {len(problems) - _LISTED_IDS} more")
        raise WeaklesionError(f"{len(problems)} masks cannot be scored:\n" + "\n".join(lines))


def _list_ids(ids: Iterable[str]) -> str:
    ids = list(ids)
    shown = ", ".join(f"{i}{MASK_SUFFIX}" for i in ids[:_LISTED_IDS])
    return shown + (f", … and {len(ids) - _LISTED_IDS} more" if len(ids) > _LISTED_IDS else "")
