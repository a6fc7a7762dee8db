# Score each trained model on its dataset's test split with the paper's metrics.


rule evaluate_model:
    input:
        model="results/{dataset}/{model}/seed{seed}/model.pt",
        data="results/{dataset}/data.h5",
        reference=evaluation_reference,
        clusters="results/{dataset}/clusters.parquet",
        split="results/{dataset}/split.csv",
    output:
        metrics="results/{dataset}/{model}/seed{seed}/metrics.parquet",
        summary="results/{dataset}/{model}/seed{seed}/summary.json",
        predictions="results/{dataset}/{model}/seed{seed}/test_predictions.h5",
    log:
        "results/{dataset}/{model}/seed{seed}/evaluate.log",
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
        reference_name=evaluation_reference_name,
        expect=expected_checkpoint,
        batch_size=config["evaluate"]["batch_size"],
        device=config["evaluate"]["device"],
    script:
        "../workflow_scripts/evaluate_model.py"
