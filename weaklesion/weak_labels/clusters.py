"""Stage 4: k-means over the five ellipse parameters gives each lesion its cluster label.

The labels are the auxiliary task of A1+L. As in the paper, the raw parameters (pixels and
degrees) are clustered without rescaling. Under ``protocol: paper`` LiTS lesions take their
labels the released, misaligned way (:func:`released_misaligned_clusters`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from weaklesion.ellipses.fitting import ELLIPSE_COLUMNS
from weaklesion.errors import ConfigError, WeaklesionError


def cluster_ellipses(ellipses: pd.DataFrame, k: int, *, seed: int = 0,
                     config_key: str = "k") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (lesion_id → cluster, centroids with their sizes). Deterministic for a seed."""
    if k < 2:
        raise ConfigError(f"{config_key} = {k}: need at least 2 clusters")
    if k > len(ellipses):
        raise ConfigError(
            f"{config_key} = {k} is larger than the number of lesions ({len(ellipses)})"
        )
    features = ellipses[ELLIPSE_COLUMNS].to_numpy(np.float64)
    kmeans = KMeans(n_clusters=k, random_state=seed, n_init=10).fit(features)
    labels = pd.DataFrame({"lesion_id": ellipses["lesion_id"].to_numpy(),
                           "cluster": kmeans.labels_.astype(np.int64)})
    centroids = pd.DataFrame(kmeans.cluster_centers_, columns=ELLIPSE_COLUMNS)
    centroids.insert(0, "cluster", np.arange(k))
    centroids["size"] = np.bincount(kmeans.labels_, minlength=k)
    return labels, centroids


def released_misaligned_clusters(ellipses: pd.DataFrame, table: pd.DataFrame, k: int, *,
                                 seed: int = 0, config_key: str = "k"
                                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The released LiTS labels (PROTOCOL item 6, a defect kept under ``protocol: paper``).

    The released code clustered its ellipse table, made before the IoU < 0.4 removal, and
    then indexed those labels with positions in the filtered patch list: the i-th patch kept
    got the label of the table's i-th row, whichever component that was. So does this; the
    column ``label_of`` names the row each label came from. Kept because A1+L's published
    LiTS row was trained on these labels; ``corrected`` clusters the lesions' own ellipses.
    """
    if len(table) < len(ellipses):
        raise WeaklesionError(
            f"the ellipse table has {len(table)} rows, fewer than the {len(ellipses)} lesions "
            "it labels; rerun preprocessing"
        )
    table_labels, centroids = cluster_ellipses(table, k, seed=seed, config_key=config_key)
    n = len(ellipses)
    labels = pd.DataFrame({"lesion_id": ellipses["lesion_id"].to_numpy(),
                           "cluster": table_labels["cluster"].to_numpy()[:n],
                           "label_of": table_labels["lesion_id"].to_numpy()[:n]})
    centroids["size"] = np.bincount(labels["cluster"], minlength=k)
    return labels, centroids


def cluster_lesions(ellipses: pd.DataFrame, k: int, *, seed: int = 0, config_key: str = "k",
                    cluster_table: pd.DataFrame | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each lesion's cluster: k-means over its own ellipse, or, where preprocessing kept the
    released LiTS table (``data.h5``'s ``cluster_table``), the released labelling."""
    if cluster_table is None:
        return cluster_ellipses(ellipses, k, seed=seed, config_key=config_key)
    return released_misaligned_clusters(ellipses, cluster_table, k, seed=seed,
                                        config_key=config_key)
