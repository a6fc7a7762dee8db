"""One dataset's ablation of one setting under one protocol: each metric against the value.

Rule wiring: input ``metrics`` = the metrics.parquet of the default and the ablated runs of
the models the setting affects, ``ablations`` = ``results/tables/ablations.csv``; output
``png``, ``pdf``; log: one file; params: ``default`` (the default run's value of the
setting), optional ``title``.
"""

import pandas as pd

from weaklesion.analysis.runs import read_run_metrics, run_means
from weaklesion.figures import write_figure
from weaklesion.figures.forest import ablation_figure
from weaklesion.figures.inputs import figure_title, file_list
from weaklesion.layout import DEFAULT_VARIANT, split_variant
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    wildcards, setting = snakemake.wildcards, snakemake.wildcards.setting
    default = snakemake.params.default
    means = run_means(read_run_metrics(file_list(snakemake.input.metrics)))
    means["value"] = [str(default) if v == DEFAULT_VARIANT else split_variant(v)[1]
                      for v in means["variant"]]
    table = pd.read_csv(snakemake.input.ablations, dtype={"value": str})
    mine = table[(table["dataset"].astype(str) == wildcards.dataset)
                 & (table["protocol"] == wildcards.protocol) & (table["setting"] == setting)
                 & ~table["is_default"]]
    figure = ablation_figure(means, mine.rename(columns={"model": "trained"}), axis=setting,
                             default=default,
                             title=figure_title(snakemake.params, wildcards))
    write_figure(figure, snakemake.output.png)
    write_figure(figure, snakemake.output.pdf)
    log.info("ablation of %s (%d runs) written to %s", setting, len(means),
             snakemake.output.png)
