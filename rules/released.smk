# The paper's released checkpoints (a dataset's `released:` entry): imported into this
# workflow's checkpoint format, then scored like a trained run under protocol paper. Nothing
# is trained for them; the tables show them as their own rows, "A1 (released)".


rule import_released:
    input:
        released=PLAN.released_file,
    output:
        model=f"{RELEASED_RUN}/model.pt",
    log:
        f"{RELEASED_RUN}/import.log",
    wildcard_constraints:
        protocol=PAPER,
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        format=PLAN.dataset_format,
    script:
        "../workflow_scripts/import_released.py"


use rule evaluate_model as evaluate_released with:
    output:
        metrics=f"{RELEASED_RUN}/metrics.parquet",
        summary=f"{RELEASED_RUN}/summary.json",
        predictions=f"{RELEASED_RUN}/test_predictions.h5",
    log:
        f"{RELEASED_RUN}/evaluate.log",
    wildcard_constraints:
        protocol=PAPER,
