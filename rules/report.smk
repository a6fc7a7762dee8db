# Provenance for the HTML report: the configuration used and the software versions.


localrules:
    config_used,
    software_versions,


rule config_used:
    output:
        config=report(
            f"{PROVENANCE}/config.yaml",
            caption="../report/config.rst",
            category="Provenance",
        ),
    log:
        "logs/provenance/config_used.log",
    conda:
        CONDA_ENV
    params:
        config=config,
    script:
        "../workflow_scripts/config_used.py"


rule software_versions:
    output:
        versions=report(
            f"{PROVENANCE}/software_versions.csv",
            caption="../report/software_versions.rst",
            category="Provenance",
        ),
    log:
        "logs/provenance/software_versions.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/software_versions.py"
