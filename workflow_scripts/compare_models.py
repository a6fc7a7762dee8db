"""Paired comparisons of the models, lesion by lesion, and the ablations' tables."""

from weaklesion.comparison_tables import OUTPUT_FILES, render_comparisons
from weaklesion.comparisons import read_run_metrics
from weaklesion.logs import rule_logging
from weaklesion.tables import write_outputs

with rule_logging(snakemake.log[0]) as log:
    metrics = read_run_metrics(snakemake.input.metrics)
    texts = render_comparisons(metrics, dict(snakemake.params.formats),
                               dict(snakemake.params.ablation_defaults))
    written = write_outputs(texts, {key: getattr(snakemake.output, key) for key in OUTPUT_FILES})
    log.info("%d runs compared (%d lesion scores): %s", metrics.groupby(
        ["dataset", "protocol", "variant", "model", "seed"]).ngroups, len(metrics),
        ", ".join(map(str, written)))
