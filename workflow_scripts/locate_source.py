"""List the raw items a dataset's adapter finds; fails early naming missing files."""

from weaklesion.datasets.preprocess import source_listing
from weaklesion.utilities.atomic import atomic_path
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    listing = source_listing(snakemake.params.format, snakemake.params.root,
                             snakemake.params.settings)
    with atomic_path(snakemake.output.listing, suffix=".tsv") as tmp:
        listing.to_csv(tmp, sep="\t", index=False)
    root = snakemake.params.root
    where = root if isinstance(root, str) else f"{len(root)} files, read in place"
    log.info("%d items found in %s", len(listing), where)
