"""Download pretrained encoder weights once, before any (possibly offline) training job."""

from weaklesion.logs import rule_logging
from weaklesion.models import fetch_encoder_weights

with rule_logging(snakemake.log[0]) as log:
    path = fetch_encoder_weights(snakemake.wildcards.encoder, snakemake.wildcards.weights,
                                 snakemake.output.weights)
    log.info("saved %s", path)
