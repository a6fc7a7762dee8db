# Score each trained model with the paper's metrics: on its test split, or, under protocol
# paper, on exactly the lesions the released code scored (weaklesion.evaluation.evaluated_set).


rule evaluate_model:
    input:
        unpack(PLAN.evaluation_inputs),
    output:
        metrics=f"{RUN}/metrics.parquet",
        summary=f"{RUN}/summary.json",
        predictions=f"{RUN}/test_predictions.h5",
    log:
        f"{RUN}/evaluate.log",
    conda:
        CONDA_ENV
    threads: 4
    resources:
        gpu=1,
        mem_mb=PLAN.in_memory_mb,
        runtime=30,
    params:
        evaluated=PLAN.evaluated_set,
        expect=PLAN.expected_checkpoint,
        batch_size=config["evaluate"]["batch_size"],
        device=config["evaluate"]["device"],
    script:
        "../workflow_scripts/evaluate_model.py"


use rule evaluate_model as evaluate_ablation with:
    output:
        metrics=f"{ABLATION_RUN}/metrics.parquet",
        summary=f"{ABLATION_RUN}/summary.json",
        predictions=f"{ABLATION_RUN}/test_predictions.h5",
    log:
        f"{ABLATION_RUN}/evaluate.log",
