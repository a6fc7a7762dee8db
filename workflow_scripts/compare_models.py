"""Paired comparisons of the models, lesion by lesion, and the ablations' tables."""

from weaklesion.analysis.outputs import COMPARISON_FILES, render_comparisons, write_outputs
from weaklesion.analysis.runs import RUN_KEYS, read_run_metrics
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    metrics = read_run_metrics(snakemake.input.metrics)
    texts = render_comparisons(metrics, dict(snakemake.params.formats),
                               dict(snakemake.params.ablation_defaults))
    written = write_outputs(texts, {key: getattr(snakemake.output, key)
                                    for key in COMPARISON_FILES})
    log.info("%d runs compared (%d lesion scores): %s", metrics.groupby(RUN_KEYS).ngroups,
             len(metrics), ", ".join(map(str, written)))
