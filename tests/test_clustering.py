"""Stage 4: k-means over ellipse parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from weaklesion.ellipses.fitting import ELLIPSE_COLUMNS
from weaklesion.errors import ConfigError
from weaklesion.weak_labels.clusters import cluster_ellipses

# Three well separated kinds of ellipse: small round left, large wide right, tall at 90°.
BLOB_CENTRES = np.array([
    [30.0, 60.0, 15.0, 14.0, 10.0],
    [90.0, 60.0, 70.0, 30.0, 45.0],
    [60.0, 30.0, 25.0, 80.0, 150.0],
])  # fmt: skip


def blobs(per_blob=12, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(BLOB_CENTRES)), per_blob)
    rng.shuffle(truth)
    params = BLOB_CENTRES[truth] + rng.normal(0, 2, (len(truth), 5))
    table = pd.DataFrame(params, columns=ELLIPSE_COLUMNS)
    table.insert(0, "lesion_id", [f"les-{i:03d}" for i in range(len(truth))])
    return table, truth


def test_separated_blobs_are_recovered():
    table, truth = blobs()
    labels, centroids = cluster_ellipses(table, 3)
    assert list(labels["lesion_id"]) == list(table["lesion_id"])
    found = labels["cluster"].to_numpy()
    # Same partition, whatever the cluster numbers: a one-to-one map between labels.
    pairs = set(zip(truth, found, strict=True))
    assert len(pairs) == 3 and len({t for t, _ in pairs}) == 3 and len({f for _, f in pairs}) == 3
    # Each centroid sits on its blob's centre, and counts its members.
    for blob, cluster in pairs:
        row = centroids.set_index("cluster").loc[cluster]
        assert np.allclose(row[ELLIPSE_COLUMNS].to_numpy(float), BLOB_CENTRES[blob], atol=2)
        assert row["size"] == (truth == blob).sum()


def test_deterministic_for_a_seed():
    table, _ = blobs(per_blob=8, seed=3)
    table[ELLIPSE_COLUMNS] += np.random.default_rng(9).normal(0, 20, (len(table), 5))
    first, centroids_first = cluster_ellipses(table, 5, seed=4)
    second, centroids_second = cluster_ellipses(table, 5, seed=4)
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(centroids_first, centroids_second)


def test_labels_cover_every_cluster():
    table, _ = blobs(per_blob=5, seed=1)
    for k in (2, 6, len(table)):
        labels, centroids = cluster_ellipses(table, k)
        assert sorted(set(labels["cluster"])) == list(range(k))
        assert labels["cluster"].dtype == np.int64
        assert list(centroids["cluster"]) == list(range(k))
        assert centroids["size"].sum() == len(table)
        assert list(centroids.columns) == ["cluster", *ELLIPSE_COLUMNS, "size"]


def test_more_clusters_than_lesions_names_the_config_key():
    table, _ = blobs(per_blob=2)
    with pytest.raises(ConfigError, match=r"datasets\.demo\.k = 7 .*number of lesions \(6\)"):
        cluster_ellipses(table, 7, config_key="datasets.demo.k")


def test_fewer_than_two_clusters_names_the_config_key():
    table, _ = blobs(per_blob=2)
    with pytest.raises(ConfigError, match=r"datasets\.x\.k = 1: need at least 2"):
        cluster_ellipses(table, 1, config_key="datasets.x.k")
