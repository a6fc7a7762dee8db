"""The paper's results table (Markdown, LaTeX, CSV, HTML) and its comparison with the published
one, with the lines on the paper's claim from the paired comparisons."""

import pandas as pd

from weaklesion.analysis.outputs import TABLE_FILES, render_tables, write_outputs
from weaklesion.analysis.runs import collect_runs_from
from weaklesion.analysis.vs_paper import paper_claim_lines
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    formats = dict(snakemake.params.formats)
    runs = collect_runs_from(snakemake.input.summaries, formats)
    comparisons = getattr(snakemake.input, "comparisons", None)
    claims = paper_claim_lines(pd.read_csv(comparisons), formats) if comparisons else []
    written = write_outputs(render_tables(runs, formats, claims),
                            {key: getattr(snakemake.output, key) for key in TABLE_FILES})
    log.info("%d runs of %d datasets tabulated: %s", len(runs), runs["dataset"].nunique(),
             ", ".join(map(str, written)))
