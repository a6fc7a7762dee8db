"""The per-dataset patch store ``data.h5`` and the mask stores ``targets.h5``/``grabcut.h5``.

``data.h5`` layout (N lesions, in the adapter's sorted order)::

    image        (N, 120, 120, 3) uint8   RGB patches
    mask         (N, 120, 120)    bool    ground truth (absent for DeepLesion)
    recist       (N, 4, 2)        float32 RECIST endpoints in patch pixels (DeepLesion only)
    ellipse      (N, 5)           float32 cx, cy, width, height, angle (the weak label)
    ellipse_iou  (N,)             float32 IoU of the filled ellipse with the mask (NaN if none)
    lesion_id, group_id, source   (N,)    str
    meta/<column>                 (N,)    str or float64: the source's own metadata
    attrs: format, dataset, weaklesion_version, settings (json)

Writes stream in fixed-size blocks, so memory stays flat however large the dataset, and go to
a temporary file renamed into place when complete.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from weaklesion import PATCH_SIZE, __version__
from weaklesion.atomic import atomic_path
from weaklesion.datasets.base import Lesion
from weaklesion.recist import ELLIPSE_COLUMNS

BLOCK = 256  # lesions per chunk along the first axis
STRING = h5py.string_dtype("utf-8")
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


class PatchWriter:
    """Appends lesions (with their fitted ellipse) to an open HDF5 file in blocks."""

    def __init__(self, h5: h5py.File, *, has_masks: bool, has_recist: bool):
        self.h5 = h5
        self.count = 0
        self._pending: list[tuple[Lesion, np.ndarray, float]] = []
        self._meta: list[Mapping[str, Any]] = []
        self._strings: dict[str, list[str]] = {"lesion_id": [], "group_id": [], "source": []}
        shapes = {"image": ((PATCH_SIZE, PATCH_SIZE, 3), np.uint8),
                  "ellipse": ((len(ELLIPSE_COLUMNS),), np.float32),
                  "ellipse_iou": ((), np.float32)}
        if has_masks:
            shapes["mask"] = ((PATCH_SIZE, PATCH_SIZE), bool)
        if has_recist:
            shapes["recist"] = ((4, 2), np.float32)
        for name, (shape, dtype) in shapes.items():
            h5.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                              chunks=(BLOCK, *shape), **COMPRESSION)

    def append(self, lesion: Lesion, ellipse: np.ndarray, ellipse_iou: float) -> None:
        self._pending.append((lesion, ellipse, ellipse_iou))
        self._meta.append(lesion.meta)
        for name in self._strings:
            self._strings[name].append(getattr(lesion, name))
        if len(self._pending) >= BLOCK:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        lesions = [p[0] for p in self._pending]
        columns = {
            "image": np.stack([lesion.image for lesion in lesions]),
            "ellipse": np.stack([p[1] for p in self._pending]),
            "ellipse_iou": np.array([p[2] for p in self._pending], np.float32),
        }
        if "mask" in self.h5:
            columns["mask"] = np.stack([lesion.mask for lesion in lesions])
        if "recist" in self.h5:
            columns["recist"] = np.stack([lesion.recist for lesion in lesions])
        start, stop = self.count, self.count + len(lesions)
        for name, values in columns.items():
            dataset = self.h5[name]
            dataset.resize(stop, axis=0)
            dataset[start:stop] = values
        self.count = stop
        self._pending.clear()

    def close(self) -> None:
        self._flush()
        for name, values in self._strings.items():
            self.h5.create_dataset(name, data=np.array(values, dtype=object), dtype=STRING)
        meta = self.h5.create_group("meta")
        for column, values in pd.DataFrame(self._meta).items():
            numeric = pd.to_numeric(values, errors="coerce")
            if values.notna().equals(numeric.notna()) and len(values):
                meta.create_dataset(column, data=numeric.to_numpy(np.float64))
            else:
                text = values.fillna("").astype(str).to_numpy(dtype=object)
                meta.create_dataset(column, data=text, dtype=STRING)


def write_attrs(h5: h5py.File, *, fmt: str, dataset: str, settings: Mapping[str, Any]) -> None:
    h5.attrs.update({
        "format": fmt, "dataset": dataset, "weaklesion_version": __version__,
        "settings": json.dumps(dict(settings), sort_keys=True, default=str),
    })


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


def has_dataset(path: Path, name: str) -> bool:
    with h5py.File(path, "r") as h5:
        return name in h5


def write_masks(path: Path, name: str, masks: np.ndarray, lesion_ids: Sequence[str]) -> None:
    """A mask store (targets.h5, grabcut.h5): one (N, 120, 120) bool array plus ids."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset(name, data=masks.astype(bool),
                          chunks=(min(BLOCK, max(len(masks), 1)), *masks.shape[1:]),
                          **COMPRESSION)
        h5.create_dataset("lesion_id", data=np.array(list(lesion_ids), dtype=object),
                          dtype=STRING)
