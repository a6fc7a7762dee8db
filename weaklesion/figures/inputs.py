"""Reading the workflow's outputs for the figures: which run a file belongs to, and only the
rows of an HDF5 store that a figure shows (DeepLesion's stores run to gigabytes)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from weaklesion.errors import WeaklesionError
from weaklesion.layout import Run, parse_run

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_dice")
"""Columns of ``history.csv`` the training-curve figure draws."""

_BLOCK = 256  # rows per read, the stores' chunk length


class RowsOf:
    """Rows ``rows`` of an indexable (an array or an open h5py dataset), indexed 0, 1, …:
    row ``i`` is ``data[rows[i]]``, read only when asked for."""

    def __init__(self, data, rows: Sequence[int]):
        self.data, self.rows = data, np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        return self.data[int(self.rows[index])]


@dataclass(frozen=True)
class RunFile:
    """A file of one trained run (:func:`weaklesion.layout.parse_run` reads which)."""

    run: Run
    path: Path

    @property
    def model(self) -> str:
        return self.run.model

    @property
    def seed(self) -> int:
        return self.run.seed


def figure_title(params, wildcards) -> str | None:
    """A figure's title: the rule's ``title`` param, else "<dataset> (<protocol>)"."""
    given = getattr(params, "title", None)
    if given:
        return given
    dataset, protocol = getattr(wildcards, "dataset", None), getattr(wildcards, "protocol", None)
    return f"{dataset} ({protocol})" if dataset and protocol else dataset


def file_list(value: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """A rule's named input as a list of paths (Snakemake gives a single file as a string)."""
    if isinstance(value, str | os.PathLike):
        return [Path(value)]
    return [Path(v) for v in value]


def runs_of(paths: Iterable[str | os.PathLike]) -> list[RunFile]:
    """The runs of one dataset's files, sorted by model then seed; a model/seed given twice
    is an error."""
    runs = sorted((RunFile(parse_run(p), Path(p)) for p in paths),
                  key=lambda r: (r.model, r.seed))
    for first, second in zip(runs, runs[1:], strict=False):
        if (first.model, first.seed) == (second.model, second.seed):
            raise WeaklesionError(f"{first.path} and {second.path} are both {first.model} "
                                  f"seed {first.seed}")
    return runs


def first_seed_runs(paths: Iterable[str | os.PathLike]) -> dict[str, RunFile]:
    """Per model, its run with the smallest seed."""
    chosen: dict[str, RunFile] = {}
    for run in runs_of(paths):
        chosen.setdefault(run.model, run)
    return chosen


def read_histories(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Every run's ``history.csv`` stacked, with ``model`` and ``seed`` columns in front."""
    def read(path):
        table = pd.read_csv(path)
        missing = [c for c in HISTORY_COLUMNS if c not in table.columns]
        if missing:
            raise WeaklesionError(f"{path}: history lacks the columns {missing} "
                                  f"(has {list(table.columns)}); rerun training")
        return table

    return _stacked_runs(paths, read, "history.csv")


def read_metrics(paths: Iterable[str | os.PathLike], columns: Sequence[str]) -> pd.DataFrame:
    """Per-lesion ``columns`` of every run's ``metrics.parquet``, with ``model`` and ``seed``."""
    def read(path):
        table = pd.read_parquet(path)
        missing = [c for c in ("lesion_id", *columns) if c not in table.columns]
        if missing:
            raise WeaklesionError(f"{path}: metrics lack the columns {missing} "
                                  f"(has {list(table.columns)})")
        return table[["lesion_id", *columns]].copy()

    return _stacked_runs(paths, read, "metrics.parquet")


def _stacked_runs(paths: Iterable[str | os.PathLike], read, what: str) -> pd.DataFrame:
    """``read(path)`` of every run's file stacked, with ``model`` and ``seed`` in front."""
    tables = []
    for run in runs_of(paths):
        table = read(run.path)
        table.insert(0, "seed", run.seed)
        table.insert(0, "model", run.model)
        tables.append(table)
    if not tables:
        raise WeaklesionError(f"no {what} given: nothing to draw")
    return pd.concat(tables, ignore_index=True)


def read_lesion_ids(path: str | os.PathLike) -> np.ndarray:
    """The ``lesion_id`` column of an HDF5 store, as str."""
    with h5py.File(path, "r") as h5:
        if "lesion_id" not in h5:
            raise WeaklesionError(f"{path} holds no lesion_id; rerun the step that wrote it")
        return np.array([v.decode() if isinstance(v, bytes) else str(v)
                         for v in h5["lesion_id"][:]])


def read_array(path: str | os.PathLike, name: str) -> np.ndarray:
    """One whole dataset of an HDF5 store; an error names the file and what it holds."""
    with h5py.File(path, "r") as h5:
        if name not in h5:
            raise WeaklesionError(f"{path} holds no {name!r} (it holds {sorted(h5)})")
        return h5[name][:]


def read_rows(path: str | os.PathLike, name: str, rows: Sequence[int]) -> np.ndarray:
    """Rows ``rows`` (in that order) of the dataset ``name``, read one chunk at a time so that
    memory stays at the rows asked for."""
    rows = np.asarray(rows, dtype=np.int64)
    with h5py.File(path, "r") as h5:
        if name not in h5:
            raise WeaklesionError(f"{path} holds no {name!r} (it holds {sorted(h5)})")
        dataset = h5[name]
        if rows.size and (rows.min() < 0 or rows.max() >= len(dataset)):
            raise WeaklesionError(f"{path}: {name!r} has {len(dataset)} rows, asked for row "
                                  f"{int(rows.max())}")
        out = np.empty((len(rows), *dataset.shape[1:]), dtype=dataset.dtype)
        for start in np.unique(rows // _BLOCK) * _BLOCK:
            block = dataset[start:start + _BLOCK]
            inside = (rows >= start) & (rows < start + _BLOCK)
            out[inside] = block[rows[inside] - start]
    return out


def positions(ids: np.ndarray, wanted: Sequence[str], where: str | os.PathLike) -> np.ndarray:
    """Row of each ``wanted`` lesion id in ``ids``; an error names ``where`` and a missing id."""
    lookup = pd.Index(ids)
    if not lookup.is_unique:
        raise WeaklesionError(f"{where}: lesion ids are not unique")
    found = lookup.get_indexer(list(wanted))
    if (found < 0).any():
        missing = [w for w, f in zip(wanted, found, strict=True) if f < 0]
        raise WeaklesionError(f"{where} lacks {len(missing)} lesions, e.g. {missing[0]!r}; its "
                              "files come from another preprocessing: rerun the workflow")
    return found


def read_cluster_labels(path: str | os.PathLike, lesion_ids: Sequence[str]) -> np.ndarray:
    """The cluster of each of ``lesion_ids`` (data.h5's lesions) from ``clusters.parquet``."""
    table = pd.read_parquet(path)
    missing = [c for c in ("lesion_id", "cluster") if c not in table.columns]
    if missing:
        raise WeaklesionError(f"{path}: lacks the columns {missing}; rerun cluster_ellipses")
    if len(table) != len(lesion_ids):
        raise WeaklesionError(f"{path} labels {len(table)} lesions, the patch store holds "
                              f"{len(lesion_ids)}; rerun the workflow so both match")
    rows = positions(table["lesion_id"].astype(str).to_numpy(), lesion_ids, path)
    return table["cluster"].to_numpy(np.int64)[rows]
