"""The paper's results table (Markdown, LaTeX, CSV) and its comparison with the published one."""

import pandas as pd

from weaklesion.comparison_tables import paper_claim_lines
from weaklesion.logs import rule_logging
from weaklesion.tables import OUTPUT_FILES, collect_runs_from, render_tables, write_outputs

with rule_logging(snakemake.log[0]) as log:
    formats = dict(snakemake.params.formats)
    runs = collect_runs_from(snakemake.input.summaries, formats)
    comparisons = getattr(snakemake.input, "comparisons", None)
    claims = paper_claim_lines(pd.read_csv(comparisons), formats) if comparisons else []
    written = write_outputs(render_tables(runs, formats, claims),
                            {key: getattr(snakemake.output, key) for key in OUTPUT_FILES})
    log.info("%d runs of %d datasets tabulated: %s", len(runs), runs["dataset"].nunique(),
             ", ".join(map(str, written)))
