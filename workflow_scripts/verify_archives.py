"""Verify size and MD5 of every file in a dataset's manifest."""

from pathlib import Path

from weaklesion.raw.manifest import read_manifest
from weaklesion.raw.verify import verify_all
from weaklesion.utilities.atomic import atomic_path
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    entries = read_manifest(snakemake.input.manifest)
    report = verify_all(entries, Path(snakemake.params.archive_dir), progress=True)
    with atomic_path(snakemake.output.verified, suffix=".tsv") as tmp:
        report.to_csv(tmp, sep="\t", index=False)
    log.info("verified %d files:\n%s", len(report), report.to_string(index=False))
