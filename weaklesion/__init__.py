"""Weakly supervised lesion segmentation with multi-task learning (Chu et al., MIDL 2021).

One subpackage per stage of the workflow, in the order data flows through them. A stage
imports only the stages above it in this table (``tests/test_package_layout.py`` checks it);
the modules of the first row serve every stage.

============  ==========================================================================
stage         holds
============  ==========================================================================
(shared)      ``errors``, ``protocols``, ``layout`` (every results path), ``utilities``
``raw``       manifests, download, verification, unpacking, archives read in place
``ellipses``  ellipses from masks and RECIST marks, and drawing them as the release did
``datasets``  one adapter per on-disk format (the demo among them), preprocessing, data.h5
``weak_labels``  training targets (ellipses, GrabCut) and k-means clusters
``splits``    train / val / test, and the split's arrays in memory
``models``    the three networks, encoder weights, the input canvas
``training``  loop, steps, losses, schedules, checkpoints, devices, GPU fast paths
``evaluation``  the predictor, metrics and their kernels, the evaluated set, scoring
``analysis``  runs, the paper's table, vs paper, paired comparisons, ablations
``figures``   the paper's figures and the report's plots
``workflow``  the Snakemake glue: config, resources, provenance
(entry)       ``cli`` (``python -m weaklesion``)
============  ==========================================================================
"""

import os

__version__ = "0.1.0"

PATCH_SIZE = 120
"""Side of the square patch every dataset is reduced to, as in the paper."""

STAGES = ("raw", "ellipses", "datasets", "weak_labels", "splits", "models", "training",
          "evaluation", "analysis", "figures", "workflow")
"""The subpackages in workflow order: a stage imports only stages before it."""

# Intel MKL, PyTorch's CPU BLAS on x86, now and then takes another code path from one process
# to the next: a CPU rerun of ACoseg training came out different in about 1 of 20 runs.
# MKL_CBWR=AUTO is Intel's switch for run-to-run reproducible results on the same machine.
# MKL reads it at its first call, so it is set when the package is imported; a value the
# user has set wins.
os.environ.setdefault("MKL_CBWR", "AUTO")
