# Stage 4: k-means over the ellipse parameters; the cluster is A1+L's second task.


rule cluster_ellipses:
    input:
        ellipses=f"{PROTOCOL}/ellipses.parquet",
        data=f"{PROTOCOL}/data.h5",
    output:
        clusters=f"{PROTOCOL}/clusters.parquet",
        centroids=f"{PROTOCOL}/centroids.csv",
    log:
        "logs/{dataset}/{protocol}/cluster_ellipses.log",
    conda:
        CONDA_ENV
    params:
        k=PLAN.setting("k"),
        seed=PLAN.setting("cluster_seed"),
    script:
        "../workflow_scripts/cluster_ellipses.py"


# A k ablation's labels: the same clustering with the variant's k.
use rule cluster_ellipses as cluster_ablation with:
    output:
        clusters=f"{ABLATION}/clusters.parquet",
        centroids=f"{ABLATION}/centroids.csv",
    log:
        "logs/{dataset}/{protocol}/ablations/{variant}/cluster_ellipses.log",
    wildcard_constraints:
        variant=r"k-\d+",
