"""Stage 4: k-means over the five ellipse parameters gives each lesion its cluster label.

The labels are the auxiliary task of A1+L. As in the paper, the raw parameters (pixels and
degrees) are clustered without rescaling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from weaklesion.errors import ConfigError
from weaklesion.recist import ELLIPSE_COLUMNS


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
