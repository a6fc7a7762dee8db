"""Weakly supervised lesion segmentation with multi-task learning (Chu et al., MIDL 2021)."""

__version__ = "0.1.0"

PATCH_SIZE = 120
"""Side of the square patch every dataset is reduced to, as in the paper."""
