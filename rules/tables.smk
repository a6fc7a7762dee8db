# The paper's table over every configured dataset, model and seed, and the published numbers.
# Light work: it runs where Snakemake runs, not as a cluster job.


localrules:
    make_tables,


rule make_tables:
    input:
        summaries=all_summaries(),
        comparisons="results/tables/comparisons.csv",
    output:
        paper_md="results/tables/paper_table.md",
        paper_tex="results/tables/paper_table.tex",
        paper_csv="results/tables/paper_table.csv",
        paper_html=report(
            "results/tables/paper_table.html",
            caption="../report/paper_table.rst",
            category="Tables",
        ),
        vs_paper_md="results/tables/vs_paper.md",
        vs_paper_csv="results/tables/vs_paper.csv",
        vs_paper_html=report(
            "results/tables/vs_paper.html",
            caption="../report/vs_paper.rst",
            category="Tables",
        ),
    log:
        "logs/tables/make_tables.log",
    conda:
        CONDA_ENV
    params:
        formats=dataset_formats(),
    script:
        "../workflow_scripts/make_tables.py"
