# weaklesion: weakly supervised lesion segmentation with multi-task learning (MIDL 2021).
# raw archives -> verified -> data.h5 -> ellipse targets -> clusters -> splits
# -> trained models (dataset x model x seed), or the paper's released ones -> per-lesion
# test metrics
# -> the paper's table and figures, and an HTML report (snakemake --report).
from snakemake.utils import min_version, validate

min_version("9.0")


validate(config, "schemas/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/obtain.smk"
include: "rules/preprocess.smk"
include: "rules/targets.smk"
include: "rules/cluster.smk"
include: "rules/split.smk"
include: "rules/weights.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/released.smk"
include: "rules/tables.smk"
include: "rules/compare.smk"
include: "rules/figures.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        PLAN.all_targets(),
