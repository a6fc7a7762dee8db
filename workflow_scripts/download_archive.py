"""Download one file of a dataset's manifest, with resume and verification."""

from pathlib import Path

from weaklesion.raw.download import download
from weaklesion.raw.manifest import ManifestEntry
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    path = download(ManifestEntry(**snakemake.params.entry), Path(snakemake.output[0]).parent)
    log.info("downloaded and verified %s", path)
