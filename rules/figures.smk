# The paper's figures per dataset, plus training curves and per-lesion metric distributions.
# Light work: they run where Snakemake runs, not as cluster jobs.


localrules:
    figure_clusters,
    figure_segmentations,
    figure_training_curves,
    figure_metric_distributions,


rule figure_clusters:
    input:
        data=f"{PROTOCOL}/data.h5",
        clusters=f"{PROTOCOL}/clusters.parquet",
    output:
        png=report(
            f"{FIGURES}/clusters.png",
            caption="../report/figure_clusters.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        pdf=f"{FIGURES}/clusters.pdf",
        scatter_png=report(
            f"{FIGURES}/cluster_parameters.png",
            caption="../report/figure_cluster_parameters.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        scatter_pdf=f"{FIGURES}/cluster_parameters.pdf",
    log:
        "logs/{dataset}/{protocol}/figure_clusters.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/figure_clusters.py"


rule figure_segmentations:
    input:
        data=f"{PROTOCOL}/data.h5",
        targets=f"{PROTOCOL}/targets.h5",
        reference=PLAN.figure_reference,
        predictions=PLAN.run_files("test_predictions.h5", first_seed=True),
    output:
        png=report(
            f"{FIGURES}/segmentations.png",
            caption="../report/figure_segmentations.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        pdf=f"{FIGURES}/segmentations.pdf",
    log:
        "logs/{dataset}/{protocol}/figure_segmentations.log",
    conda:
        CONDA_ENV
    params:
        reference_name=PLAN.figure_reference_name,
    script:
        "../workflow_scripts/figure_segmentations.py"


rule figure_training_curves:
    input:
        histories=PLAN.run_files("history.csv"),
    output:
        png=report(
            f"{FIGURES}/training_curves.png",
            caption="../report/figure_training_curves.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        pdf=f"{FIGURES}/training_curves.pdf",
    log:
        "logs/{dataset}/{protocol}/figure_training_curves.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/figure_training_curves.py"


rule figure_metric_distributions:
    input:
        metrics=PLAN.run_files("metrics.parquet"),
    output:
        png=report(
            f"{FIGURES}/metric_distributions.png",
            caption="../report/figure_metric_distributions.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        pdf=f"{FIGURES}/metric_distributions.pdf",
    log:
        "logs/{dataset}/{protocol}/figure_metric_distributions.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/figure_metric_distributions.py"
