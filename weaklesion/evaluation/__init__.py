"""Stage 7, inference and evaluation (rules ``evaluate_model`` and ``evaluate_released``,
``weaklesion predict`` and ``weaklesion evaluate``): the predictor, the paper's metrics with
their compiled kernels, the evaluated set of each run, and scoring."""
