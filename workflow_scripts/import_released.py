"""Import one of the paper's released checkpoints as this workflow's model.pt."""

from weaklesion.training.released_checkpoints import import_released
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    written = import_released(snakemake.input.released, snakemake.wildcards.model,
                              snakemake.output.model, dataset_format=snakemake.params.format)
    log.info("%s imported as %s (input pipeline of protocol paper, format %s)",
             snakemake.input.released, written, snakemake.params.format)
