# weaklesion: weakly supervised lesion segmentation with multi-task learning (MIDL 2021).
# Data half: raw archives -> verified -> data.h5 -> ellipse targets -> clusters -> splits.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/obtain.smk"
include: "rules/preprocess.smk"
include: "rules/targets.smk"
include: "rules/cluster.smk"
include: "rules/split.smk"


rule all:
    input:
        all_targets(),
    default_target: True
