"""Stage 5: the paper's splits reproduced exactly, and group-respecting corrected splits."""

from __future__ import annotations

import logging
import random
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from weaklesion.errors import ConfigError
from weaklesion.splits.assignment import (
    group_split,
    lits_paper_split,
    make_split,
    paper_shuffle_split,
)

FRACTIONS = {"train": 0.7, "val": 0.2, "test": 0.1}
FRACTION_LIST = [0.7, 0.2, 0.1]
LITS_PATCHES = 16_462


def reference_split(n: int) -> np.ndarray:
    """The released code, line for line (global ``random`` state, numpy index array)."""
    state = random.getstate()
    try:
        random.seed(1)
        ind = np.arange(n)
        random.shuffle(ind)
        tr = int(n * 0.7)
        val = tr + int(n * 0.2)
        labels = np.empty(n, dtype=object)
        labels[ind[:tr]] = "train"
        labels[ind[tr:val]] = "val"
        labels[ind[val:]] = "test"
        return labels
    finally:
        random.setstate(state)


@pytest.mark.parametrize("n", [10, 37, 1000, 10_012])
def test_paper_shuffle_split_equals_the_reference_code(n):
    labels = paper_shuffle_split(n, FRACTION_LIST)
    assert np.array_equal(labels, reference_split(n))


def test_paper_shuffle_split_sizes_and_global_random_state_untouched():
    random.seed(123)
    expected_next = random.random()
    random.seed(123)
    labels = paper_shuffle_split(10_012, FRACTION_LIST)
    assert random.random() == expected_next
    counts = pd.Series(labels).value_counts()
    assert (counts["train"], counts["val"], counts["test"]) == (7008, 2002, 1002)


def table_of(groups, official=None):
    table = pd.DataFrame({"lesion_id": [f"les-{i:05d}" for i in range(len(groups))],
                          "group_id": list(groups)})
    if official is not None:
        table["meta_official_split"] = list(official)
    return table


def random_groups(rng: np.random.Generator, n_groups: int, max_size: int) -> list[str]:
    sizes = rng.integers(1, max_size + 1, n_groups)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], sizes)
    rng.shuffle(groups)
    return list(groups)


def test_group_split_never_puts_a_group_on_two_sides_and_lands_near_the_fractions():
    rng = np.random.default_rng(0)
    for trial in range(150):
        max_size = int(rng.integers(1, 6))
        groups = random_groups(rng, int(rng.integers(20, 120)), max_size)
        labels = group_split(groups, FRACTION_LIST, seed=trial)
        assert set(labels) <= {"train", "val", "test"}
        per_group = pd.Series(labels).groupby(pd.Series(groups)).nunique()
        assert (per_group == 1).all(), trial
        # Each group goes where the shortfall is largest, so no split ends more than two
        # of the largest groups away from its share.
        n = len(groups)
        for name, fraction in zip(("train", "val", "test"), FRACTION_LIST, strict=True):
            assert abs((labels == name).sum() - fraction * n) <= 2 * max_size, (trial, name)


def test_group_split_is_deterministic_and_depends_on_the_seed():
    groups = random_groups(np.random.default_rng(5), 60, 3)
    first = group_split(groups, FRACTION_LIST, seed=1)
    assert np.array_equal(first, group_split(groups, FRACTION_LIST, seed=1))
    assert not np.array_equal(first, group_split(groups, FRACTION_LIST, seed=2))


def test_group_split_does_not_depend_on_row_order():
    groups = random_groups(np.random.default_rng(6), 40, 4)
    labels = dict(zip(groups, group_split(groups, FRACTION_LIST, seed=1), strict=False))
    reordered = groups[::-1]
    again = dict(zip(reordered, group_split(reordered, FRACTION_LIST, seed=1), strict=False))
    assert labels == again


def lits_lists():
    folder = resources.files("weaklesion.splits") / "lits_split"
    lists = {}
    for split, name in (("train", "tr_ind.npy"), ("val", "val_ind.npy"),
                        ("test", "test_ind.npy")):
        with (folder / name).open("rb") as handle:
            lists[split] = np.load(handle)
    return lists


def test_lits_paper_lists_are_used_for_the_papers_patch_count():
    lists = lits_lists()
    assert {k: len(v) for k, v in lists.items()} == {"train": 11_522, "val": 3_310,
                                                      "test": 1_630}
    groups = [f"volume-{i // 130}" for i in range(LITS_PATCHES)]
    split = make_split(table_of(groups), fmt="lits", protocol="paper", fractions=FRACTIONS)
    for name, indices in lists.items():
        assert (split["split"].to_numpy()[indices] == name).all()
    assert split["split"].value_counts().to_dict() == {"train": 11_522, "val": 3_310,
                                                        "test": 1_630}
    assert np.array_equal(lits_paper_split(LITS_PATCHES), split["split"].to_numpy())


@pytest.mark.parametrize("n", [100, LITS_PATCHES - 1, LITS_PATCHES + 1])
def test_lits_falls_back_to_a_volume_split_for_other_counts(n, caplog):
    assert lits_paper_split(n) is None
    groups = [f"volume-{i // 7}" for i in range(n)]
    with caplog.at_level(logging.WARNING, logger="weaklesion.splits.assignment"):
        split = make_split(table_of(groups), fmt="lits", protocol="paper", fractions=FRACTIONS)
    assert "splitting by volume instead" in caplog.text
    assert (split.groupby("group_id")["split"].nunique() == 1).all()
    assert np.array_equal(split["split"].to_numpy(), group_split(groups, FRACTION_LIST, 1))


def test_ham10000_paper_protocol_splits_by_image_and_leaks_groups():
    groups = [f"HAM_{i // 2:07d}" for i in range(200)]  # two images per lesion
    for fmt in ("ham10000", "demo", "folder"):
        split = make_split(table_of(groups), fmt=fmt, protocol="paper", fractions=FRACTIONS)
        assert np.array_equal(split["split"].to_numpy(), reference_split(200))
        # The paper's defect, reproduced: some lesions have images on two sides.
        assert (split.groupby("group_id")["split"].nunique() > 1).any()


def test_paper_order_is_the_released_listing_of_each_split():
    """A loader over ``ind[val:]`` lists the test images in the shuffled order; which ones a
    drop-last loader leaves out depends on it (PROTOCOL item 14)."""
    n = 200
    split = make_split(table_of([f"g{i}" for i in range(n)]), fmt="ham10000",
                       protocol="paper", fractions=FRACTIONS)
    state = random.getstate()
    try:
        random.seed(1)
        ind = np.arange(n)
        random.shuffle(ind)
    finally:
        random.setstate(state)
    bounds = {"train": (0, 140), "val": (140, 180), "test": (180, 200)}
    for name, (start, stop) in bounds.items():
        rows = split[split["split"] == name].sort_values("order")
        assert list(rows["order"]) == list(range(stop - start))
        assert list(rows.index) == list(ind[start:stop])


def test_corrected_and_list_splits_are_listed_in_data_order():
    groups = [f"HAM_{i // 2:07d}" for i in range(60)]
    split = make_split(table_of(groups), fmt="ham10000", protocol="corrected",
                       fractions=FRACTIONS)
    for _, rows in split.groupby("split"):
        assert list(rows["order"]) == list(range(len(rows)))


def test_corrected_protocol_keeps_groups_together():
    groups = [f"HAM_{i // 2:07d}" for i in range(200)]
    split = make_split(table_of(groups), fmt="ham10000", protocol="corrected",
                       fractions=FRACTIONS, seed=1)
    assert (split.groupby("group_id")["split"].nunique() == 1).all()
    assert list(split.columns) == ["lesion_id", "group_id", "split", "order"]
    assert list(split["lesion_id"]) == list(table_of(groups)["lesion_id"])


def test_deeplesion_uses_the_official_column():
    official = ["train", "val", "test", "train", "train", "test"]
    groups = ["p1", "p2", "p3", "p4", "p4", "p5"]
    for protocol in ("paper", "corrected"):
        split = make_split(table_of(groups, official), fmt="deeplesion", protocol=protocol,
                           fractions=FRACTIONS)
        assert list(split["split"]) == official


def test_deeplesion_corrected_regroups_a_patient_on_two_sides(caplog):
    official = ["train", "val", "test", "train", "test", "train", "val", "train"]
    groups = ["p1", "p2", "p3", "p4", "p4", "p5", "p6", "p7"]  # p4 on two sides
    paper = make_split(table_of(groups, official), fmt="deeplesion", protocol="paper",
                       fractions=FRACTIONS)
    assert list(paper["split"]) == official
    with caplog.at_level(logging.WARNING, logger="weaklesion.splits.assignment"):
        corrected = make_split(table_of(groups, official), fmt="deeplesion",
                               protocol="corrected", fractions=FRACTIONS)
    assert "regrouping" in caplog.text
    assert (corrected.groupby("group_id")["split"].nunique() == 1).all()


def test_an_empty_split_is_a_config_error():
    # 4 images: int(4 × 0.7) = 2 train, int(4 × 0.2) = 0 val.
    with pytest.raises(ConfigError, match=r"the val split is empty \(4 lesions\)"):
        make_split(table_of(["a", "b", "c", "d"]), fmt="ham10000", protocol="paper",
                   fractions=FRACTIONS)
    with pytest.raises(ConfigError, match="the test split is empty"):
        make_split(table_of(list("abcdefghij")), fmt="ham10000", protocol="paper",
                   fractions={"train": 0.7, "val": 0.3, "test": 0.0})
    # Two groups cannot fill three splits.
    with pytest.raises(ConfigError, match=r"split is empty \(6 lesions\)"):
        make_split(table_of(["a"] * 3 + ["b"] * 3), fmt="ham10000", protocol="corrected",
                   fractions=FRACTIONS)


def test_fractions_must_sum_to_one():
    with pytest.raises(ConfigError, match="split fractions must sum to 1"):
        make_split(table_of(list("abcdefghij")), fmt="ham10000", protocol="paper",
                   fractions={"train": 0.7, "val": 0.2, "test": 0.2})


def test_extra_keys_in_the_split_config_are_ignored():
    table = table_of([f"g{i}" for i in range(30)])
    with_seed = make_split(table, fmt="ham10000", protocol="paper",
                           fractions={**FRACTIONS, "seed": 1}, seed=1)
    assert np.array_equal(with_seed["split"].to_numpy(), reference_split(30))
