"""Write the configuration this run used (after defaults), for the report."""

import yaml

from weaklesion.utilities.atomic import atomic_path
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]), atomic_path(snakemake.output.config, suffix=".yaml") as tmp:
    tmp.write_text(yaml.safe_dump(snakemake.params.config, sort_keys=False))
