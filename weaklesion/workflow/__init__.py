"""The Snakemake glue (``rules/*.smk``): the config completed with each format's defaults,
what each job needs and asks of a scheduler, and the run's provenance."""
