# The paper's figures per dataset, plus training curves and per-lesion metric distributions.
# Light work: they run where Snakemake runs, not as cluster jobs.


localrules:
    figure_clusters,
    figure_segmentations,
    figure_training_curves,
    figure_metric_distributions,


rule figure_clusters:
    input:
        data="results/{dataset}/{protocol}/data.h5",
        clusters="results/{dataset}/{protocol}/clusters.parquet",
    output:
        png=report(
            "results/figures/{dataset}/{protocol}/clusters.png",
            caption="../report/figure_clusters.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        pdf="results/figures/{dataset}/{protocol}/clusters.pdf",
        scatter_png=report(
            "results/figures/{dataset}/{protocol}/cluster_parameters.png",
            caption="../report/figure_cluster_parameters.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        scatter_pdf="results/figures/{dataset}/{protocol}/cluster_parameters.pdf",
    log:
        "logs/{dataset}/{protocol}/figure_clusters.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/figure_clusters.py"


rule figure_segmentations:
    input:
        data="results/{dataset}/{protocol}/data.h5",
        targets="results/{dataset}/{protocol}/targets.h5",
        reference=figure_reference,
        predictions=first_seed_runs("test_predictions.h5"),
    output:
        png=report(
            "results/figures/{dataset}/{protocol}/segmentations.png",
            caption="../report/figure_segmentations.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        pdf="results/figures/{dataset}/{protocol}/segmentations.pdf",
    log:
        "logs/{dataset}/{protocol}/figure_segmentations.log",
    conda:
        CONDA_ENV
    params:
        reference_name=figure_reference_name,
    script:
        "../workflow_scripts/figure_segmentations.py"


rule figure_training_curves:
    input:
        histories=all_runs("history.csv"),
    output:
        png=report(
            "results/figures/{dataset}/{protocol}/training_curves.png",
            caption="../report/figure_training_curves.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        pdf="results/figures/{dataset}/{protocol}/training_curves.pdf",
    log:
        "logs/{dataset}/{protocol}/figure_training_curves.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/figure_training_curves.py"


rule figure_metric_distributions:
    input:
        metrics=all_runs("metrics.parquet"),
    output:
        png=report(
            "results/figures/{dataset}/{protocol}/metric_distributions.png",
            caption="../report/figure_metric_distributions.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        pdf="results/figures/{dataset}/{protocol}/metric_distributions.pdf",
    log:
        "logs/{dataset}/{protocol}/figure_metric_distributions.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/figure_metric_distributions.py"
