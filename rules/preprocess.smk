# Stage 2: every lesion as a 120x120 patch with its mask and weak-label ellipse, in one HDF5,
# per protocol: from here on everything is made once for each protocol of a dataset.


rule preprocess:
    input:
        unpack(raw_inputs),
        listing="results/{dataset}/source_files.tsv",
    output:
        data="results/{dataset}/{protocol}/data.h5",
        excluded=report(
            "results/{dataset}/{protocol}/excluded.csv",
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
        mem_mb=preprocess_mem_mb,
        runtime=preprocess_runtime,
    params:
        format=adapter_format,
        root=raw_root,
        settings=preprocessing,
    script:
        "../workflow_scripts/preprocess.py"
