"""Read the raw dataset into data.h5 (patches, masks, ellipses) and excluded.csv."""

from weaklesion.datasets.preprocess import preprocess
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]):
    preprocess(
        fmt=snakemake.params.format,
        root=snakemake.params.root,
        settings=snakemake.params.settings,
        dataset=snakemake.wildcards.dataset,
        data_h5=snakemake.output.data,
        excluded_csv=snakemake.output.excluded,
        workers=snakemake.threads,
    )
