"""Weakly supervised lesion segmentation with multi-task learning (Chu et al., MIDL 2021)."""

import os

__version__ = "0.1.0"

PATCH_SIZE = 120
"""Side of the square patch every dataset is reduced to, as in the paper."""

# Intel MKL, PyTorch's CPU BLAS on x86, now and then takes another code path from one process
# to the next: a CPU rerun of ACoseg training came out different in about 1 of 20 runs.
# MKL_CBWR=AUTO is Intel's switch for run-to-run reproducible results on the same machine.
# MKL reads it at its first call, so it is set when the package is imported; a value the
# user has set wins.
os.environ.setdefault("MKL_CBWR", "AUTO")
