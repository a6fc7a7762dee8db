# Stage 5: train / val / test, as the paper did (protocol: paper) or by group (corrected).


rule split_dataset:
    input:
        data=f"{PROTOCOL}/data.h5",
    output:
        split=f"{PROTOCOL}/split.csv",
    log:
        "logs/{dataset}/{protocol}/split_dataset.log",
    conda:
        CONDA_ENV
    params:
        format=PLAN.setting("format"),
        protocol="{protocol}",
        fractions=PLAN.setting("split"),
    script:
        "../workflow_scripts/split_dataset.py"
