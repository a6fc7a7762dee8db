"""Per-lesion metric distributions of one dataset: a box and the points of every test lesion,
per model and seed, so that more than the means shows.

Rule wiring:

- input: ``metrics`` = the runs'
  ``results/{dataset}/{protocol}/{model}/seed{seed}/metrics.parquet`` (any models and seeds;
  model and seed are read from the folder names)
- output: ``png``, ``pdf``
- log: one file
- params (optional): ``columns`` (metric columns, one panel each; default ``["dice",
  "hausdorff"]``), ``title`` (default: "<dataset> (<protocol>)")
"""

from weaklesion.figures import DISTRIBUTION_METRICS, metric_distributions, write_figure
from weaklesion.figures.inputs import figure_title, file_list, read_metrics
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    params = snakemake.params
    title = figure_title(params, snakemake.wildcards)
    columns = list(getattr(params, "columns", DISTRIBUTION_METRICS))
    metrics = read_metrics(file_list(snakemake.input.metrics), columns)
    figure = metric_distributions(metrics, columns, title=title)
    write_figure(figure, snakemake.output.png)
    write_figure(figure, snakemake.output.pdf)
    log.info("%s distributions of %d runs written to %s", columns,
             metrics.groupby(["model", "seed"]).ngroups, snakemake.output.png)
