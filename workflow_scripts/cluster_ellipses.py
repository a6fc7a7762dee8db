"""k-means over the ellipse parameters: each lesion's cluster label for A1+L."""

import pandas as pd

from weaklesion.datasets.patch_store import read_cluster_table
from weaklesion.utilities.atomic import atomic_path
from weaklesion.utilities.logs import rule_logging
from weaklesion.weak_labels.clusters import cluster_lesions

with rule_logging(snakemake.log[0]) as log:
    cluster_table = read_cluster_table(snakemake.input.data)
    if cluster_table is not None:
        log.info("labels taken from the released ellipse table (%d rows), misaligned as the "
                 "released code had them", len(cluster_table))
    labels, centroids = cluster_lesions(
        pd.read_parquet(snakemake.input.ellipses), snakemake.params.k,
        seed=snakemake.params.seed, config_key=f"datasets.{snakemake.wildcards.dataset}.k",
        cluster_table=cluster_table,
    )
    with atomic_path(snakemake.output.clusters, suffix=".parquet") as tmp:
        labels.to_parquet(tmp, index=False)
    with atomic_path(snakemake.output.centroids, suffix=".csv") as tmp:
        centroids.to_csv(tmp, index=False)
    log.info("%d lesions in %d clusters; sizes %s", len(labels), len(centroids),
             centroids["size"].tolist())
