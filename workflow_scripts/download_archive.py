"""Download one file of a dataset's manifest, with resume and verification."""

from pathlib import Path

from weaklesion.archives import ManifestEntry, download
from weaklesion.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    path = download(ManifestEntry(**snakemake.params.entry), Path(snakemake.output[0]).parent)
    log.info("downloaded and verified %s", path)
