"""Stage 7, inference and evaluation (rule ``evaluate_model``, ``weaklesion predict`` and
``weaklesion evaluate``): the predictor, the paper's metrics with their compiled kernels, the
evaluated set of each run, and scoring."""
