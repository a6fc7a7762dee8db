"""Stage 5: train / val / test assignment of every lesion.

``protocol: paper`` reproduces the paper's splits exactly, defects included: HAM10000 (and the
HAM-shaped demo and folder datasets) are shuffled *by image* with Python's ``random.seed(1)``,
so images of one lesion land on both sides; LiTS uses the released index lists into the sorted
patch list; DeepLesion uses its official ``Train_Val_Test`` column.
``protocol: corrected`` assigns whole groups (HAM ``lesion_id``, LiTS volume, DeepLesion
patient, folder ``groups.csv``), so no group is on two sides.

``split.csv`` also gives each lesion's ``order`` within its split: the order the released
code listed the split in (the shuffled order for the by-image split), which decides which
lesions a loader that scores only whole batches leaves out
(:mod:`weaklesion.evaluation.evaluated_set`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from importlib import resources

import numpy as np
import pandas as pd

from weaklesion.datasets import adapter_class
from weaklesion.errors import ConfigError
from weaklesion.protocols import CORRECTED, PAPER

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
LITS_PAPER_LISTS = {"train": "tr_ind.npy", "val": "val_ind.npy", "test": "test_ind.npy"}


def paper_shuffle_order(n: int, seed: int = 1) -> list[int]:
    """0..n-1 shuffled as the reference code shuffled them, with ``random.seed(seed)``."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def paper_shuffle_split(n: int, fractions: Sequence[float], seed: int = 1) -> np.ndarray:
    """The reference code's split: shuffle 0..n-1 with ``random.seed(seed)``, cut 70/20/10."""
    order = paper_shuffle_order(n, seed)
    train_end = int(n * fractions[0])
    val_end = train_end + int(n * fractions[1])
    labels = np.empty(n, dtype=object)
    labels[order[:train_end]] = "train"
    labels[order[train_end:val_end]] = "val"
    labels[order[val_end:]] = "test"
    return labels


def group_split(groups: Sequence[str], fractions: Sequence[float], seed: int) -> np.ndarray:
    """Shuffle the distinct groups, then fill train, val and test with whole groups.

    Each group goes to the split furthest below its target share of lesions, so the lesion
    fractions land close to the targets even when groups differ in size.
    """
    groups = pd.Series(list(groups), dtype=str)
    sizes = groups.value_counts(sort=False)
    names = sorted(sizes.index)
    random.Random(seed).shuffle(names)
    targets = np.asarray(fractions, dtype=float) * len(groups)
    filled = np.zeros(len(SPLITS))
    assignment = {}
    for name in names:
        index = int(np.argmax(targets - filled))
        assignment[name] = SPLITS[index]
        filled[index] += sizes[name]
    return groups.map(assignment).to_numpy(dtype=object)


def lits_paper_split(n: int) -> np.ndarray | None:
    """The paper's LiTS index lists, or None when the patch count does not match them."""
    folder = resources.files("weaklesion.splits") / "lits_split"
    labels = np.full(n, None, dtype=object)
    total = 0
    for split, filename in LITS_PAPER_LISTS.items():
        with (folder / filename).open("rb") as handle:
            indices = np.load(handle)
        total += len(indices)
        if indices.max() >= n:
            return None
        labels[indices] = split
    if total != n:
        return None
    return labels


def make_split(table: pd.DataFrame, *, fmt: str, protocol: str,
               fractions: Mapping[str, float], seed: int = 1) -> pd.DataFrame:
    """Split the lesions of ``table`` (lesion_id, group_id[, meta_official_split])."""
    fraction_list = [float(fractions[s]) for s in SPLITS]
    if abs(sum(fraction_list) - 1) > 1e-6:
        raise ConfigError(f"split fractions must sum to 1, got {dict(fractions)}")
    n = len(table)
    adapter = adapter_class(fmt)
    labels = None
    listed = np.arange(n)  # where each lesion comes in the released listing of its split
    if adapter.official_split:
        labels = table["meta_official_split"].to_numpy(dtype=object)
        if protocol == CORRECTED and _groups_cross(table["group_id"], labels):
            log.warning("the official split puts a group on two sides; regrouping")
            labels = None
    elif protocol == PAPER and adapter.released_code == "lits":
        labels = lits_paper_split(n)
        if labels is None:
            log.warning("LiTS has %d patches, the paper's index lists cover 16,462: "
                        "splitting by volume instead", n)
    elif protocol == PAPER:
        labels = paper_shuffle_split(n, fraction_list, seed)
        listed[paper_shuffle_order(n, seed)] = np.arange(n)
    if labels is None:
        labels = group_split(table["group_id"], fraction_list, seed)
    split = pd.DataFrame({"lesion_id": table["lesion_id"].to_numpy(),
                          "group_id": table["group_id"].to_numpy(), "split": labels})
    split["order"] = pd.Series(listed).groupby(split["split"]).rank(method="first").astype(
        "int64") - 1
    for name in SPLITS:
        if not (split["split"] == name).any():
            raise ConfigError(
                f"the {name} split is empty ({n} lesions); the dataset is too small for "
                f"fractions {dict(fractions)}"
            )
    return split


def _groups_cross(groups: pd.Series, labels: np.ndarray) -> bool:
    return bool((pd.Series(labels).groupby(groups.to_numpy()).nunique() > 1).any())
