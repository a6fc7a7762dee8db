# One training job per dataset x model x seed; a killed job resumes from its last epoch.


rule train_model:
    input:
        unpack(PLAN.training_inputs),
    output:
        model=f"{RUN}/model.pt",
        history=f"{RUN}/history.csv",
    log:
        f"{RUN}/train.log",
    priority: PLAN.training_priority
    conda:
        CONDA_ENV
    threads: 4
    resources:
        gpu=1,
        mem_mb=PLAN.in_memory_mb,
        runtime=PLAN.training_runtime,
    params:
        dataset=PLAN.training_settings,
        train=config["train"],
        target_name=PLAN.setting("target"),
        checkpoint_dir=PLAN.checkpoint_folder,
    script:
        "../workflow_scripts/train_model.py"


# An ablation's runs: the same job with the ablated setting (Plan.run_settings).
use rule train_model as train_ablation with:
    output:
        model=f"{ABLATION_RUN}/model.pt",
        history=f"{ABLATION_RUN}/history.csv",
    log:
        f"{ABLATION_RUN}/train.log",
