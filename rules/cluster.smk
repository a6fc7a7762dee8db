# Stage 4: k-means over the ellipse parameters; the cluster is A1+L's second task.


rule cluster_ellipses:
    input:
        ellipses="results/{dataset}/{protocol}/ellipses.parquet",
        data="results/{dataset}/{protocol}/data.h5",
    output:
        clusters="results/{dataset}/{protocol}/clusters.parquet",
        centroids="results/{dataset}/{protocol}/centroids.csv",
    log:
        "logs/{dataset}/{protocol}/cluster_ellipses.log",
    conda:
        CONDA_ENV
    params:
        k=cluster_count,
        seed=cluster_seed,
    script:
        "../workflow_scripts/cluster_ellipses.py"


# A k ablation's labels: the same clustering with k from the variant's name.
use rule cluster_ellipses as cluster_ablation with:
    output:
        clusters="results/{dataset}/{protocol}/ablations/k-{k}/clusters.parquet",
        centroids="results/{dataset}/{protocol}/ablations/k-{k}/centroids.csv",
    log:
        "logs/{dataset}/{protocol}/ablations/k-{k}/cluster_ellipses.log",
    wildcard_constraints:
        k=r"\d+",
    params:
        k=ablated_k,
        seed=cluster_seed,
