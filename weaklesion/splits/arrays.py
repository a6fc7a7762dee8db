"""One split of a dataset in memory, for training and evaluation: its patches, targets (or
reference masks) and cluster labels, read once from the stage outputs and checked to list the
same lesions in the same order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from weaklesion.datasets.patch_store import as_levels, read_arrays
from weaklesion.errors import WeaklesionError


@dataclass
class LesionArrays:
    """One split of a dataset, in memory: patches, targets and cluster labels, aligned."""

    lesion_ids: np.ndarray
    images: np.ndarray  # (N, 120, 120, 3) uint8 RGB
    masks: np.ndarray  # (N, 120, 120) uint8 levels: target = level / 255 (binary: 0/255)
    clusters: np.ndarray  # (N,) int64
    order: np.ndarray | None = None  # (N,) where each comes in the released listing

    def __len__(self) -> int:
        return len(self.lesion_ids)

    def subset(self, rows: np.ndarray) -> LesionArrays:
        return LesionArrays(self.lesion_ids[rows], self.images[rows], self.masks[rows],
                            self.clusters[rows], None if self.order is None else self.order[rows])

    def listed(self) -> LesionArrays:
        """The lesions in the order the released code listed them (see splits.py)."""
        if self.order is None:
            return self
        return self.subset(np.argsort(self.order, kind="stable"))


def load_splits(data_h5: Path, mask_h5: Path, mask_name: str, clusters: Path,
                split_csv: Path) -> dict[str, LesionArrays]:
    """Read the stage outputs once and cut them into train / val / test arrays.

    Every stage writes lesions in ``data.h5``'s order; a mismatch means the files come from
    different runs, which is reported rather than silently realigned.
    """
    images = read_arrays(data_h5, ["image", "lesion_id"])
    masks = read_arrays(mask_h5, [mask_name, "lesion_id"])
    if mask_name not in masks:
        raise WeaklesionError(f"{mask_h5} holds no {mask_name!r} masks; rerun the workflow")
    labels = pd.read_parquet(clusters)
    split = pd.read_csv(split_csv, dtype={"lesion_id": str})
    ids = np.array([i.decode() if isinstance(i, bytes) else i for i in images["lesion_id"]])
    for name, other in (
        (mask_h5, masks["lesion_id"]), (clusters, labels["lesion_id"]),
        (split_csv, split["lesion_id"]),
    ):
        other = np.array([i.decode() if isinstance(i, bytes) else i for i in other])
        if len(other) != len(ids) or (other != ids).any():
            raise WeaklesionError(f"{name} lists other lesions than {data_h5}; rerun the "
                                  "workflow so that both come from the same preprocessing")
    result = {}
    for name in ("train", "val", "test"):
        rows = np.flatnonzero(split["split"].to_numpy() == name)
        order = split["order"].to_numpy(np.int64)[rows] if "order" in split else None
        result[name] = LesionArrays(ids[rows], images["image"][rows],
                                    as_levels(masks[mask_name][rows]),
                                    labels["cluster"].to_numpy(np.int64)[rows], order)
    return result
