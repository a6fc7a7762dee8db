"""The per-dataset patch store ``data.h5`` and the mask stores ``targets.h5``/``grabcut.h5``.

``data.h5`` layout (N lesions, in the adapter's sorted order)::

    image        (N, 120, 120, 3) uint8   RGB patches
    mask         (N, 120, 120)    bool    ground truth (absent for DeepLesion)
    recist       (N, 4, 2)        float32 RECIST endpoints in patch pixels (DeepLesion only)
    ellipse      (N, 5)           float32 cx, cy, width, height, angle (the weak label, as
                                          k-means clusters it)
    ellipse_iou  (N,)             float32 IoU of the filled ellipse with the mask, as the keep
                                          rule measured it (NaN if none)
    target_ellipse (N, 5)         float32 the ellipse the target is drawn from, on ...
    target_frame (N, 2)           int32   ... a frame of (rows, cols) pixels
    lesion_id, group_id, source   (N,)    str
    meta/<column>                 (N,)    str or float64: the source's own metadata
    cluster_table/lesion_id, cluster_table/ellipse (M,), (M, 5)
                                          only where the released procedure clustered another
                                          table than the lesions kept (LiTS under paper)
    attrs: format, dataset, protocol, target_recipe, weaklesion_version, settings (json)

Writes stream in fixed-size blocks, so memory stays flat however large the dataset, and go to
a temporary file renamed into place when complete.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import json
import os
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from weaklesion import PATCH_SIZE, __version__
from weaklesion.datasets.base import Lesion, WeakLabel
from weaklesion.ellipses.fitting import ELLIPSE_COLUMNS
from weaklesion.errors import WeaklesionError
from weaklesion.utilities.atomic import atomic_path

BLOCK = 256  # lesions per chunk along the first axis
STRING = h5py.string_dtype("utf-8")
# Level 1: patches shrink about as much as at level 4 (1.7×) for two thirds of the CPU time.
COMPRESSION = {"compression": "gzip", "compression_opts": 1, "shuffle": True}


@contextlib.contextmanager
def new_store(path: str | Path) -> Iterator[h5py.File]:
    """A new HDF5 file, open for writing under a temporary name and renamed to ``path`` only
    when complete. A full disk is reported naming ``path`` (HDF5 names the temporary file)."""
    path = Path(path)
    try:
        with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as h5:
            yield h5
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise WeaklesionError(
            f"{path}: no space left on the device while writing it; nothing was kept under "
            "that name. Free space there (or point the workflow at a larger disk) and rerun"
        ) from error


class PatchWriter:
    """Appends lesions (with their fitted ellipse) to an open HDF5 file in blocks."""

    def __init__(self, h5: h5py.File, *, has_masks: bool, has_recist: bool):
        self.h5 = h5
        self.count = 0
        self._pending: list[tuple[Lesion, WeakLabel]] = []
        self._meta: dict[str, list[Any]] = {}  # column-wise: a dict per lesion costs 10×
        self._strings: dict[str, list[str]] = {"lesion_id": [], "group_id": [], "source": []}
        shapes = {"image": ((PATCH_SIZE, PATCH_SIZE, 3), np.uint8),
                  "ellipse": ((len(ELLIPSE_COLUMNS),), np.float32),
                  "ellipse_iou": ((), np.float32),
                  "target_ellipse": ((len(ELLIPSE_COLUMNS),), np.float32),
                  "target_frame": ((2,), np.int32)}
        if has_masks:
            shapes["mask"] = ((PATCH_SIZE, PATCH_SIZE), bool)
        if has_recist:
            shapes["recist"] = ((4, 2), np.float32)
        for name, (shape, dtype) in shapes.items():
            h5.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                              chunks=(BLOCK, *shape), **COMPRESSION)
        self._chunks = _ChunkCompressor()
        self._cluster_table: tuple[list[str], list[np.ndarray]] = ([], [])

    def append(self, lesion: Lesion, label: WeakLabel) -> None:
        self._pending.append((lesion, label))
        appended = len(self._strings["lesion_id"])  # lesions before this one
        for column, value in lesion.meta.items():
            self._meta.setdefault(column, [None] * appended).append(value)
        for values in self._meta.values():  # columns this lesion lacks
            if len(values) == appended:
                values.append(None)
        for name in self._strings:
            self._strings[name].append(getattr(lesion, name))
        if len(self._pending) >= BLOCK:
            self._flush()

    def append_cluster_rows(self, rows: Sequence[tuple[str, np.ndarray]]) -> None:
        """Rows of the table that k-means clusters where it is not the kept lesions'."""
        for lesion_id, features in rows:
            self._cluster_table[0].append(lesion_id)
            self._cluster_table[1].append(np.asarray(features, np.float32))

    def _flush(self) -> None:
        if not self._pending:
            return
        lesions = [p[0] for p in self._pending]
        labels = [p[1] for p in self._pending]
        columns = {
            "image": np.stack([lesion.image for lesion in lesions]),
            "ellipse": np.stack([label.ellipse for label in labels]).astype(np.float32),
            "ellipse_iou": np.array([label.iou for label in labels], np.float32),
            "target_ellipse": np.stack([label.target_ellipse
                                        for label in labels]).astype(np.float32),
            "target_frame": np.array([label.target_frame for label in labels], np.int32),
        }
        if "mask" in self.h5:
            columns["mask"] = np.stack([lesion.mask for lesion in lesions])
        if "recist" in self.h5:
            columns["recist"] = np.stack([lesion.recist for lesion in lesions])
        start, stop = self.count, self.count + len(lesions)
        for name, values in columns.items():
            dataset = self.h5[name]
            dataset.resize(stop, axis=0)
            if _ChunkCompressor.handles(dataset):
                self._chunks.write(dataset, start, values)
            else:
                dataset[start:stop] = values
        self.count = stop
        self._pending.clear()

    def close(self) -> None:
        self._flush()
        self._chunks.finish()
        for name, values in self._strings.items():
            self.h5.create_dataset(name, data=np.array(values, dtype=object), dtype=STRING)
        ids, features = self._cluster_table
        if ids:
            table = self.h5.create_group("cluster_table")
            table.create_dataset("lesion_id", data=np.array(ids, dtype=object), dtype=STRING)
            table.create_dataset("ellipse", data=np.stack(features))
        meta = self.h5.create_group("meta")
        for column, column_values in self._meta.items():
            values = pd.Series(column_values, dtype=object)
            numeric = pd.to_numeric(values, errors="coerce")
            if values.notna().equals(numeric.notna()) and len(values):
                meta.create_dataset(column, data=numeric.to_numpy(np.float64))
            else:
                text = values.fillna("").astype(str).to_numpy(dtype=object)
                meta.create_dataset(column, data=text, dtype=STRING)


class _ChunkCompressor:
    """Deflates whole chunks of 1-byte datasets in threads, and writes them as they are.

    Through h5py, HDF5 compresses in the writing thread while holding the GIL, so the pool
    that feeds the writer stalls meanwhile, and one core compresses for all. zlib releases
    the GIL; the chunks it makes are what HDF5's gzip filter makes (shuffle leaves 1-byte
    elements as they are), so readers see no difference.
    """

    def __init__(self) -> None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        self._threads = max(1, min(4, cores))
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: collections.deque = collections.deque()

    @staticmethod
    def handles(dataset: h5py.Dataset) -> bool:
        return (dataset.compression == "gzip" and dataset.dtype.itemsize == 1
                and dataset.chunks is not None)

    def write(self, dataset: h5py.Dataset, start: int, values: np.ndarray) -> None:
        """Queue rows ``start:start + len(values)``: one whole chunk, or the dataset's last."""
        rows = dataset.chunks[0]
        if start % rows or len(values) > rows:
            raise ValueError(f"rows {start}:{start + len(values)} are not one chunk of {rows}")
        chunk = np.zeros(dataset.chunks, dtype=dataset.dtype)  # as HDF5 pads a last chunk
        chunk[: len(values)] = values
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, "deflate")
        level = dataset.compression_opts
        job = self._executor.submit(zlib.compress, chunk.tobytes(), level)
        self._in_flight.append((dataset, start, job))
        while self._in_flight and (len(self._in_flight) > self._threads + 1
                                   or self._in_flight[0][2].done()):
            self._write_oldest()

    def finish(self) -> None:
        while self._in_flight:
            self._write_oldest()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def _write_oldest(self) -> None:
        dataset, start, job = self._in_flight.popleft()
        offset = (start,) + (0,) * (dataset.ndim - 1)
        dataset.id.write_direct_chunk(offset, job.result())


def write_attrs(h5: h5py.File, *, fmt: str, dataset: str, settings: Mapping[str, Any],
                target_recipe: str = "exact") -> None:
    h5.attrs.update({
        "format": fmt, "dataset": dataset, "protocol": str(settings["protocol"]),
        "target_recipe": target_recipe, "weaklesion_version": __version__,
        "settings": json.dumps(dict(settings), sort_keys=True, default=str),
    })


def store_attrs(path: Path) -> dict[str, Any]:
    """The attributes of an HDF5 store, strings decoded."""
    with h5py.File(path, "r") as h5:
        return {key: value.decode() if isinstance(value, bytes) else value
                for key, value in h5.attrs.items()}


def read_cluster_table(path: Path) -> pd.DataFrame | None:
    """``data.h5``'s own k-means table (lesion_id and the ellipse columns), if it has one."""
    with h5py.File(path, "r") as h5:
        if "cluster_table" not in h5:
            return None
        table = pd.DataFrame(h5["cluster_table/ellipse"][:], columns=ELLIPSE_COLUMNS)
        table.insert(0, "lesion_id", _decode(h5["cluster_table/lesion_id"][:]))
    return table


def _decode(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_table(path: Path) -> pd.DataFrame:
    """One row per lesion: ids, source, ellipse parameters, ellipse IoU and the metadata."""
    with h5py.File(path, "r") as h5:
        table = pd.DataFrame({name: _decode(h5[name][:])
                              for name in ("lesion_id", "group_id", "source")})
        table[ELLIPSE_COLUMNS] = h5["ellipse"][:]
        table["ellipse_iou"] = h5["ellipse_iou"][:]
        for column, dataset in h5["meta"].items():
            values = dataset[:]
            table[f"meta_{column}"] = values if values.dtype.kind == "f" else _decode(values)
    return table


def read_arrays(path: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Whole arrays loaded into memory in one read each (what training wants)."""
    with h5py.File(path, "r") as h5:
        return {name: h5[name][:] for name in names if name in h5}


def write_masks(path: Path, name: str, masks: np.ndarray, lesion_ids: Sequence[str]) -> None:
    """A mask store (targets.h5, grabcut.h5): one (N, 120, 120) bool array plus ids."""
    with mask_store(path, name, lesion_ids, masks.shape[1:]) as stored:
        stored[:] = masks.astype(bool)


def as_levels(masks: np.ndarray) -> np.ndarray:
    """A mask store's array as uint8 levels (target = level / 255): bool masks become 0/255,
    uint8 ones (soft targets) are levels already."""
    masks = np.asarray(masks)
    if masks.dtype == bool:
        return masks.astype(np.uint8) * np.uint8(255)
    if masks.dtype != np.uint8:
        raise WeaklesionError(f"a mask store holds bool masks or uint8 levels, not {masks.dtype}")
    return masks


@contextlib.contextmanager
def mask_store(path: Path, name: str, lesion_ids: Sequence[str],
               mask_shape: tuple[int, ...] = (PATCH_SIZE, PATCH_SIZE),
               dtype: type = bool) -> Iterator[h5py.Dataset]:
    """:func:`write_masks`, filled block by block: yields the empty (N, *mask_shape) array
    (N = len(lesion_ids)) of bool masks, or uint8 levels for soft targets, to assign rows to;
    renamed into place when the block ends."""
    ids = np.array(list(lesion_ids), dtype=object)
    shape = (len(ids), *mask_shape)
    with new_store(path) as h5:
        masks = h5.create_dataset(name, shape=shape, dtype=dtype,
                                  chunks=(min(BLOCK, max(len(ids), 1)), *shape[1:]),
                                  **COMPRESSION)
        h5.create_dataset("lesion_id", data=ids, dtype=STRING)
        yield masks
