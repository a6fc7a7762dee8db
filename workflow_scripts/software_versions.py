"""Record the software versions and hardware of this run, for the report."""

from weaklesion.utilities.atomic import atomic_path
from weaklesion.utilities.logs import rule_logging
from weaklesion.workflow.provenance import software_versions

with rule_logging(snakemake.log[0]) as log:
    table = software_versions()
    with atomic_path(snakemake.output.versions, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    log.info("\n%s", table.to_string(index=False))
