"""Unpack a dataset's verified archives into one tree."""

from weaklesion.raw.unpack import unpack
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    unpack(snakemake.input.archives, snakemake.output.tree)
    log.info("unpacked %d files into %s", len(snakemake.input.archives), snakemake.output.tree)
