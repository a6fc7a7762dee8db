"""Stage 8, the analysis of the evaluated runs (rules ``make_tables``, ``compare_models``,
``weaklesion table``): the runs found, the paper's table, the comparison with the published
numbers, the paired comparisons of the models and the ablations, and their tables."""
