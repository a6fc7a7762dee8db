# Pretrained encoder weights, fetched once on the submitting host: compute nodes of a
# cluster are often offline, and every training job then reads the local file.


localrules:
    fetch_encoder_weights,


rule fetch_encoder_weights:
    output:
        weights=WEIGHTS,
    log:
        "logs/weights/{encoder}.{weights}.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/fetch_encoder_weights.py"
