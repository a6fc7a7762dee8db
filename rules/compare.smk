# Paired comparisons of the models lesion by lesion, and the ablations beside the default
# runs. Light work: it runs where Snakemake runs, not as a cluster job.


localrules:
    compare_models,
    figure_comparisons,
    figure_ablation,


rule compare_models:
    input:
        metrics=all_run_metrics(),
    output:
        comparisons_md="results/tables/comparisons.md",
        comparisons_csv="results/tables/comparisons.csv",
        comparisons_html=report(
            "results/tables/comparisons.html",
            caption="../report/comparisons.rst",
            category="Tables",
        ),
        ablations_md="results/tables/ablations.md",
        ablations_csv="results/tables/ablations.csv",
        ablations_html=report(
            "results/tables/ablations.html",
            caption="../report/ablations.rst",
            category="Tables",
        ),
    log:
        "logs/tables/compare_models.log",
    conda:
        CONDA_ENV
    params:
        formats=dataset_formats(),
        ablation_defaults=ablation_defaults(),
    script:
        "../workflow_scripts/compare_models.py"


rule figure_comparisons:
    input:
        comparisons="results/tables/comparisons.csv",
    output:
        png=report(
            "results/figures/{dataset}/comparisons.png",
            caption="../report/figure_comparisons.rst",
            category="Figures",
            subcategory="{dataset}",
        ),
        pdf="results/figures/{dataset}/comparisons.pdf",
    log:
        "logs/{dataset}/figure_comparisons.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/figure_comparisons.py"


rule figure_ablation:
    input:
        metrics=ablation_runs,
        ablations="results/tables/ablations.csv",
    output:
        png=report(
            "results/figures/{dataset}/{protocol}/ablation_{setting}.png",
            caption="../report/figure_ablation.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        pdf="results/figures/{dataset}/{protocol}/ablation_{setting}.pdf",
    log:
        "logs/{dataset}/{protocol}/figure_ablation_{setting}.log",
    wildcard_constraints:
        setting="k|target",
    conda:
        CONDA_ENV
    params:
        default=ablation_default,
    script:
        "../workflow_scripts/figure_ablation.py"
