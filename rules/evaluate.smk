# Score each trained model with the paper's metrics: on its test split, or, under protocol
# paper, on exactly the lesions the released code scored (weaklesion.evaluated_set).


rule evaluate_model:
    input:
        unpack(evaluation_inputs),
    output:
        metrics="results/{dataset}/{protocol}/{model}/seed{seed}/metrics.parquet",
        summary="results/{dataset}/{protocol}/{model}/seed{seed}/summary.json",
        predictions="results/{dataset}/{protocol}/{model}/seed{seed}/test_predictions.h5",
    log:
        "results/{dataset}/{protocol}/{model}/seed{seed}/evaluate.log",
    wildcard_constraints:
        model=MODEL_REGEX,
        seed=r"\d+",
    conda:
        CONDA_ENV
    threads: 4
    resources:
        gpu=1,
        mem_mb=in_memory_mb,
        runtime=30,
    params:
        evaluated=evaluated_set,
        expect=expected_checkpoint,
        batch_size=config["evaluate"]["batch_size"],
        device=config["evaluate"]["device"],
    script:
        "../workflow_scripts/evaluate_model.py"


use rule evaluate_model as evaluate_ablation with:
    output:
        metrics="results/{dataset}/{protocol}/ablations/{variant}/{model}/seed{seed}/metrics.parquet",
        summary="results/{dataset}/{protocol}/ablations/{variant}/{model}/seed{seed}/summary.json",
        predictions="results/{dataset}/{protocol}/ablations/{variant}/{model}/seed{seed}/test_predictions.h5",
    log:
        "results/{dataset}/{protocol}/ablations/{variant}/{model}/seed{seed}/evaluate.log",
