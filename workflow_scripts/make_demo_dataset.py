"""Generate the synthetic demo dataset (HAM10000 layout) and its manifest."""

from pathlib import Path

from weaklesion.demo import write_demo_dataset
from weaklesion.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    manifest = write_demo_dataset(Path(snakemake.output.manifest).parent,
                                  **snakemake.params.options)
    log.info("demo dataset written; manifest %s", manifest)
