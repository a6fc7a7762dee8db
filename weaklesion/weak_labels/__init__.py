"""Stages 3 and 4, the weak labels: the training targets drawn from the fitted ellipses and
their GrabCut refinement (rules ``ellipse_targets``, ``grabcut_targets``), and the k-means
clusters of the ellipses that A1+L learns (rule ``cluster_ellipses``)."""
