# Paired comparisons of the models lesion by lesion, and the ablations beside the default
# runs. Light work: it runs where Snakemake runs, not as a cluster job.


localrules:
    compare_models,
    figure_comparisons,
    figure_ablation,


rule compare_models:
    input:
        metrics=PLAN.run_metrics(),
    output:
        comparisons_md=f"{TABLES}/comparisons.md",
        comparisons_csv=f"{TABLES}/comparisons.csv",
        comparisons_html=report(
            f"{TABLES}/comparisons.html",
            caption="../report/comparisons.rst",
            category="Tables",
        ),
        ablations_md=f"{TABLES}/ablations.md",
        ablations_csv=f"{TABLES}/ablations.csv",
        ablations_html=report(
            f"{TABLES}/ablations.html",
            caption="../report/ablations.rst",
            category="Tables",
        ),
    log:
        "logs/tables/compare_models.log",
    conda:
        CONDA_ENV
    params:
        formats=PLAN.formats(),
        ablation_defaults=PLAN.ablation_defaults(),
    script:
        "../workflow_scripts/compare_models.py"


rule figure_comparisons:
    input:
        comparisons=f"{TABLES}/comparisons.csv",
    output:
        png=report(
            f"{DATASET_FIGURES}/comparisons.png",
            caption="../report/figure_comparisons.rst",
            category="Figures",
            subcategory="{dataset}",
        ),
        pdf=f"{DATASET_FIGURES}/comparisons.pdf",
    log:
        "logs/{dataset}/figure_comparisons.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/figure_comparisons.py"


rule figure_ablation:
    input:
        metrics=PLAN.ablation_metrics,
        ablations=f"{TABLES}/ablations.csv",
    output:
        png=report(
            f"{FIGURES}/ablation_{{setting}}.png",
            caption="../report/figure_ablation.rst",
            category="Figures",
            subcategory="{dataset} ({protocol})",
        ),
        pdf=f"{FIGURES}/ablation_{{setting}}.pdf",
    log:
        "logs/{dataset}/{protocol}/figure_ablation_{setting}.log",
    wildcard_constraints:
        setting="k|target",
    conda:
        CONDA_ENV
    params:
        default=PLAN.ablation_default,
    script:
        "../workflow_scripts/figure_ablation.py"
