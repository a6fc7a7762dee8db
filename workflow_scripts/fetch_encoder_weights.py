"""Download pretrained encoder weights once, before any (possibly offline) training job."""

from weaklesion.models.weights import fetch_encoder_weights
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    path = fetch_encoder_weights(snakemake.wildcards.encoder, snakemake.wildcards.weights,
                                 snakemake.output.weights)
    log.info("saved %s", path)
