"""k-means over the ellipse parameters: each lesion's cluster label for A1+L."""

import pandas as pd

from weaklesion.atomic import atomic_path
from weaklesion.clustering import cluster_ellipses
from weaklesion.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    labels, centroids = cluster_ellipses(
        pd.read_parquet(snakemake.input.ellipses), snakemake.params.k,
        seed=snakemake.params.seed, config_key=f"datasets.{snakemake.wildcards.dataset}.k",
    )
    with atomic_path(snakemake.output.clusters, suffix=".parquet") as tmp:
        labels.to_parquet(tmp, index=False)
    with atomic_path(snakemake.output.centroids, suffix=".csv") as tmp:
        centroids.to_csv(tmp, index=False)
    log.info("%d lesions in %d clusters; sizes %s", len(labels), len(centroids),
             centroids["size"].tolist())
