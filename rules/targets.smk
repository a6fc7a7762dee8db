# Stage 3: the training targets drawn from the fitted ellipses (and their GrabCut refinement).


rule ellipse_targets:
    input:
        data=f"{PROTOCOL}/data.h5",
    output:
        ellipses=f"{PROTOCOL}/ellipses.parquet",
        targets=f"{PROTOCOL}/targets.h5",
    log:
        "logs/{dataset}/{protocol}/ellipse_targets.log",
    conda:
        CONDA_ENV
    threads: 8
    resources:
        mem_mb=PLAN.in_memory_mb,
        runtime=PLAN.grabcut_runtime,
    script:
        "../workflow_scripts/ellipse_targets.py"


rule grabcut_targets:
    input:
        data=f"{PROTOCOL}/data.h5",
        targets=f"{PROTOCOL}/targets.h5",
    output:
        grabcut=f"{PROTOCOL}/grabcut.h5",
    log:
        "logs/{dataset}/{protocol}/grabcut_targets.log",
    conda:
        CONDA_ENV
    threads: 8
    resources:
        mem_mb=PLAN.in_memory_mb,
        runtime=PLAN.grabcut_runtime,
    script:
        "../workflow_scripts/grabcut_targets.py"
