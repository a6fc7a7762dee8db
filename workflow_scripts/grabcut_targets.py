"""Refine every ellipse pseudo-mask with GrabCut."""

from weaklesion.utilities.logs import rule_logging
from weaklesion.weak_labels.targets import write_grabcut_targets

with rule_logging(snakemake.log[0]):
    write_grabcut_targets(snakemake.input.data, snakemake.input.targets,
                          snakemake.output.grabcut, workers=snakemake.threads)
