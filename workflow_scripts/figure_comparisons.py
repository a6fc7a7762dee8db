"""Forest plot of one dataset's paired comparisons (every protocol).

Rule wiring: input ``comparisons`` = ``results/tables/comparisons.csv``; output ``png``,
``pdf``; log: one file; params (optional): ``title`` (default: the ``dataset`` wildcard).
"""

import pandas as pd

from weaklesion.figures import write_figure
from weaklesion.figures.forest import forest_plot
from weaklesion.layout import DEFAULT_VARIANT
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    dataset = snakemake.wildcards.dataset
    comparisons = pd.read_csv(snakemake.input.comparisons, keep_default_na=True)
    mine = comparisons[(comparisons["dataset"].astype(str) == dataset)
                       & (comparisons["variant"] == DEFAULT_VARIANT)]
    figure = forest_plot(mine, title=getattr(snakemake.params, "title", None) or dataset)
    write_figure(figure, snakemake.output.png)
    write_figure(figure, snakemake.output.pdf)
    log.info("forest plot of %d comparisons of %s written to %s", len(mine), dataset,
             snakemake.output.png)
