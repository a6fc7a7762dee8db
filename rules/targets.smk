# Stage 3: the training targets drawn from the fitted ellipses (and their GrabCut refinement).


rule ellipse_targets:
    input:
        data="results/{dataset}/{protocol}/data.h5",
    output:
        ellipses="results/{dataset}/{protocol}/ellipses.parquet",
        targets="results/{dataset}/{protocol}/targets.h5",
    log:
        "logs/{dataset}/{protocol}/ellipse_targets.log",
    conda:
        CONDA_ENV
    threads: 8
    resources:
        mem_mb=in_memory_mb,
        runtime=grabcut_runtime,
    script:
        "../workflow_scripts/ellipse_targets.py"


rule grabcut_targets:
    input:
        data="results/{dataset}/{protocol}/data.h5",
        targets="results/{dataset}/{protocol}/targets.h5",
    output:
        grabcut="results/{dataset}/{protocol}/grabcut.h5",
    log:
        "logs/{dataset}/{protocol}/grabcut_targets.log",
    conda:
        CONDA_ENV
    threads: 8
    resources:
        mem_mb=in_memory_mb,
        runtime=grabcut_runtime,
    script:
        "../workflow_scripts/grabcut_targets.py"
