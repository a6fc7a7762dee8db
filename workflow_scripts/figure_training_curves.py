"""Training curves of one dataset: losses and validation Dice per epoch, every model and seed.

Rule wiring:

- input: ``histories`` = the runs'
  ``results/{dataset}/{protocol}/{model}/seed{seed}/history.csv`` (any models and seeds;
  model and seed are read from the folder names)
- output: ``png``, ``pdf``
- log: one file
- params (optional): ``title`` (default: "<dataset> (<protocol>)")
"""

from weaklesion.figures import training_curves, write_figure
from weaklesion.figures.inputs import figure_title, file_list, read_histories
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    title = figure_title(snakemake.params, snakemake.wildcards)
    history = read_histories(file_list(snakemake.input.histories))
    figure = training_curves(history, title=title)
    write_figure(figure, snakemake.output.png)
    write_figure(figure, snakemake.output.pdf)
    log.info("training curves of %d runs written to %s",
             history.groupby(["model", "seed"]).ngroups, snakemake.output.png)
