# Stage 5: train / val / test, as the paper did (protocol: paper) or by group (corrected).


rule split_dataset:
    input:
        data="results/{dataset}/{protocol}/data.h5",
    output:
        split="results/{dataset}/{protocol}/split.csv",
    log:
        "logs/{dataset}/{protocol}/split_dataset.log",
    conda:
        CONDA_ENV
    params:
        format=adapter_format,
        protocol="{protocol}",
        fractions=split_fractions,
    script:
        "../workflow_scripts/split_dataset.py"
