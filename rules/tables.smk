# The paper's table over every configured dataset, model and seed, and the published numbers.
# Light work: it runs where Snakemake runs, not as a cluster job.


localrules:
    make_tables,


rule make_tables:
    input:
        summaries=PLAN.summaries(),
        comparisons=f"{TABLES}/comparisons.csv",
    output:
        paper_md=f"{TABLES}/paper_table.md",
        paper_tex=f"{TABLES}/paper_table.tex",
        paper_csv=f"{TABLES}/paper_table.csv",
        paper_html=report(
            f"{TABLES}/paper_table.html",
            caption="../report/paper_table.rst",
            category="Tables",
        ),
        vs_paper_md=f"{TABLES}/vs_paper.md",
        vs_paper_csv=f"{TABLES}/vs_paper.csv",
        vs_paper_html=report(
            f"{TABLES}/vs_paper.html",
            caption="../report/vs_paper.rst",
            category="Tables",
        ),
    log:
        "logs/tables/make_tables.log",
    conda:
        CONDA_ENV
    params:
        formats=PLAN.formats(),
    script:
        "../workflow_scripts/make_tables.py"
