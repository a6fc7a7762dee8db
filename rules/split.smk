# Stage 5: train / val / test, as the paper did (protocol: paper) or by group (corrected).


rule split_dataset:
    input:
        data="results/{dataset}/data.h5",
    output:
        split="results/{dataset}/split.csv",
    log:
        "logs/{dataset}/split_dataset.log",
    conda:
        CONDA_ENV
    params:
        format=adapter_format,
        protocol=split_protocol,
        fractions=split_fractions,
    script:
        "../workflow_scripts/split_dataset.py"
