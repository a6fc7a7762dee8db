# Stage 1: obtain the raw files and check them before anything reads them.
# Downloads run on the submitting host: cluster compute nodes often have no internet.


localrules:
    download_archive,
    locate_source,


rule make_demo_dataset:
    output:
        archives=expand("resources/{{dataset}}/archives/{name}", name=DEMO_FILES),
        manifest="resources/{dataset}/archives/manifest.tsv",
    log:
        "logs/{dataset}/make_demo_dataset.log",
    wildcard_constraints:
        dataset=DEMO_DATASETS,
    conda:
        CONDA_ENV
    params:
        options=demo_options,
    script:
        "../workflow_scripts/make_demo_dataset.py"


rule download_archive:
    output:
        "resources/{dataset}/archives/{archive}",
    log:
        "logs/{dataset}/download/{archive}.log",
    wildcard_constraints:
        dataset=DOWNLOAD_DATASETS,
    conda:
        CONDA_ENV
    params:
        entry=manifest_entry,
    script:
        "../workflow_scripts/download_archive.py"


rule verify_archives:
    input:
        manifest=manifest_file,
        archives=archive_files,
    output:
        verified="results/{dataset}/archives.tsv",
    log:
        "logs/{dataset}/verify_archives.log",
    conda:
        CONDA_ENV
    params:
        archive_dir="resources/{dataset}/archives",
    script:
        "../workflow_scripts/verify_archives.py"


# Only with `unpack: true` in a dataset's entry: otherwise the archives are read in place.
rule unpack_archives:
    input:
        verified="results/{dataset}/archives.tsv",
        archives=archive_files,
    output:
        tree=directory("resources/{dataset}/unpacked"),
    log:
        "logs/{dataset}/unpack_archives.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/unpack_archives.py"


rule locate_source:
    input:
        unpack(raw_inputs),
    output:
        listing="results/{dataset}/source_files.tsv",
    log:
        "logs/{dataset}/locate_source.log",
    conda:
        CONDA_ENV
    params:
        format=adapter_format,
        root=raw_root,
        settings=raw_file_settings,
    script:
        "../workflow_scripts/locate_source.py"
