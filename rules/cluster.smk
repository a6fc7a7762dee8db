# Stage 4: k-means over the ellipse parameters; the cluster is A1+L's second task.


rule cluster_ellipses:
    input:
        ellipses="results/{dataset}/ellipses.parquet",
    output:
        clusters="results/{dataset}/clusters.parquet",
        centroids="results/{dataset}/centroids.csv",
    log:
        "logs/{dataset}/cluster_ellipses.log",
    conda:
        CONDA_ENV
    params:
        k=cluster_count,
        seed=cluster_seed,
    script:
        "../workflow_scripts/cluster_ellipses.py"
