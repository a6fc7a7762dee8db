# One training job per dataset x model x seed; a killed job resumes from its last epoch.


rule train_model:
    input:
        unpack(training_inputs),
    output:
        model="results/{dataset}/{protocol}/{model}/seed{seed}/model.pt",
        history="results/{dataset}/{protocol}/{model}/seed{seed}/history.csv",
    log:
        "results/{dataset}/{protocol}/{model}/seed{seed}/train.log",
    wildcard_constraints:
        model=MODEL_REGEX,
        seed=r"\d+",
    priority: training_priority
    conda:
        CONDA_ENV
    threads: 4
    resources:
        gpu=1,
        mem_mb=in_memory_mb,
        runtime=training_runtime,
    params:
        dataset=dataset_settings,
        train=train_config,
        target_name=training_target_name,
        checkpoint_dir=checkpoint_folder,
    script:
        "../workflow_scripts/train_model.py"


# An ablation's runs: the same job with the ablated setting (common.smk: run_settings).
use rule train_model as train_ablation with:
    output:
        model="results/{dataset}/{protocol}/ablations/{variant}/{model}/seed{seed}/model.pt",
        history="results/{dataset}/{protocol}/ablations/{variant}/{model}/seed{seed}/history.csv",
    log:
        "results/{dataset}/{protocol}/ablations/{variant}/{model}/seed{seed}/train.log",
