# Stage 4: k-means over the ellipse parameters; the cluster is A1+L's second task.


rule cluster_ellipses:
    input:
        ellipses="results/{dataset}/ellipses.parquet",
    output:
        clusters="results/{dataset}/clusters.parquet",
        centroids="results/{dataset}/centroids.csv",
    params:
        k=cluster_count,
        seed=cluster_seed,
    log:
        "logs/{dataset}/cluster_ellipses.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/cluster_ellipses.py"
