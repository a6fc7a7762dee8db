# Stage 1: obtain the raw files and check them before anything reads them.
# Downloads run on the submitting host: cluster compute nodes often have no internet.
from weaklesion.datasets.demo import DEMO_FILES


localrules:
    download_archive,
    locate_source,


rule make_demo_dataset:
    output:
        archives=expand(f"{ARCHIVES}/{{name}}", name=DEMO_FILES, allow_missing=True),
        manifest=f"{ARCHIVES}/manifest.tsv",
    log:
        "logs/{dataset}/make_demo_dataset.log",
    wildcard_constraints:
        dataset=datasets_from("generated"),
    conda:
        CONDA_ENV
    params:
        options=PLAN.setting("demo"),
    script:
        "../workflow_scripts/make_demo_dataset.py"


rule download_archive:
    output:
        f"{ARCHIVES}/{{archive}}",
    log:
        "logs/{dataset}/download/{archive}.log",
    wildcard_constraints:
        dataset=datasets_from("archives"),
    conda:
        CONDA_ENV
    params:
        entry=PLAN.manifest_entry,
    script:
        "../workflow_scripts/download_archive.py"


rule verify_archives:
    input:
        manifest=PLAN.manifest_file,
        archives=PLAN.archives,
    output:
        verified=f"{DATASET}/archives.tsv",
    log:
        "logs/{dataset}/verify_archives.log",
    conda:
        CONDA_ENV
    params:
        archive_dir=ARCHIVES,
    script:
        "../workflow_scripts/verify_archives.py"


# Only with `unpack: true` in a dataset's entry: otherwise the archives are read in place.
rule unpack_archives:
    input:
        verified=f"{DATASET}/archives.tsv",
        archives=PLAN.archives,
    output:
        tree=directory(UNPACKED),
    log:
        "logs/{dataset}/unpack_archives.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/unpack_archives.py"


rule locate_source:
    input:
        unpack(PLAN.raw_inputs),
    output:
        listing=f"{DATASET}/source_files.tsv",
    log:
        "logs/{dataset}/locate_source.log",
    conda:
        CONDA_ENV
    params:
        format=PLAN.setting("format"),
        root=PLAN.raw_root,
        settings=PLAN.source_settings,
    script:
        "../workflow_scripts/locate_source.py"
