# Stage 2: every lesion as a 120x120 patch with its mask and weak-label ellipse, in one HDF5,
# per protocol: from here on everything is made once for each protocol of a dataset.


rule preprocess:
    input:
        unpack(PLAN.raw_inputs),
        listing=f"{DATASET}/source_files.tsv",
    output:
        data=f"{PROTOCOL}/data.h5",
        excluded=report(
            f"{PROTOCOL}/excluded.csv",
            caption="../report/excluded.rst",
            category="Data",
            subcategory="{dataset} ({protocol})",
        ),
    log:
        "logs/{dataset}/{protocol}/preprocess.log",
    conda:
        CONDA_ENV
    threads: 8
    resources:
        mem_mb=PLAN.preprocess_mem_mb,
        runtime=PLAN.preprocess_runtime,
    params:
        format=PLAN.setting("format"),
        root=PLAN.raw_root,
        settings=PLAN.preprocess_settings,
    script:
        "../workflow_scripts/preprocess.py"
