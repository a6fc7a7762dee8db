"""Assign every lesion to train, val or test under the configured protocol."""

from weaklesion.datasets.patch_store import read_table
from weaklesion.splits.assignment import make_split
from weaklesion.utilities.atomic import atomic_path
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    split = make_split(
        read_table(snakemake.input.data),
        fmt=snakemake.params.format,
        protocol=snakemake.params.protocol,
        fractions=snakemake.params.fractions,
        seed=snakemake.params.fractions["seed"],
    )
    with atomic_path(snakemake.output.split, suffix=".csv") as tmp:
        split.to_csv(tmp, index=False)
    log.info("split sizes: %s", split["split"].value_counts().to_dict())
