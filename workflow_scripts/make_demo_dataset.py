"""Generate the synthetic demo dataset (HAM10000 layout) and its manifest."""

from pathlib import Path

from weaklesion.datasets.demo import write_demo_dataset
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    manifest = write_demo_dataset(Path(snakemake.output.manifest).parent,
                                  **(snakemake.params.options or {}))
    log.info("demo dataset written; manifest %s", manifest)
