"""ACoseg's two forward passes of a pair run as one (``gpus.fused_pairs: true``).

ACoseg steps on a pair of sub-batches of 4 (:func:`weaklesion.training.losses.coseg_pairs`): the
released code ran ``model(a)`` and then ``model(b)``, so each pass normalised its BatchNorm
layers with the statistics of its own 4 images, updated the running statistics once, and drew
its own dropout mask. In these networks BatchNorm and dropout are the only layers that mix the
images of a batch or draw random numbers; everything else treats each image on its own.
So one pass over the 8 images gives the two passes' numbers when just those layers run once
per sub-batch, in the passes' order (:func:`passes_per_sub_batch`). The convolutions then see
8 images at a time, with half the kernel launches of the two passes.

On the CPU the loss, the outputs and the running statistics are those of the two passes, and
the gradients agree to within the order in which float32 sums are added
(tests/test_fused_passes.py). Off by default until measured on a GPU (BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch import nn

# The layers whose result for one image depends on the others of its pass, or on the random
# numbers drawn before it.
PER_PASS_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)


def _forward_each(layer: nn.Module, size: int, x: torch.Tensor) -> torch.Tensor:
    forward = type(layer).forward
    return torch.cat([forward(layer, part) for part in x.split(size)])


@contextlib.contextmanager
def passes_per_sub_batch(model: nn.Module, size: int) -> Iterator[None]:
    """Within the block, ``model``'s BatchNorm and dropout layers treat each run of ``size``
    images of a batch as a forward pass of its own: batch statistics, running-statistics
    update and dropout mask per sub-batch, first to last."""
    if size < 1:
        raise ValueError(f"sub-batch size must be at least 1, got {size}")
    layers = [layer for layer in model.modules() if isinstance(layer, PER_PASS_LAYERS)]
    for layer in layers:
        layer.forward = functools.partial(_forward_each, layer, size)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward  # back to the class's own forward


Outputs = dict[str, torch.Tensor]


def pair_outputs(model: nn.Module, x: torch.Tensor, rows: tuple[slice, slice]
                 ) -> tuple[Outputs, Outputs]:
    """``(model(x[a]), model(x[b]))`` for the pair ``rows = (a, b)``, computed in one pass."""
    first, second = (x[rows[0]], x[rows[1]])
    if len(first) != len(second):
        raise ValueError(f"a fused pair needs sub-batches of one size, got {len(first)} and "
                         f"{len(second)}")
    with passes_per_sub_batch(model, len(first)):
        joined = model(torch.cat([first, second]))
    n = len(first)
    return ({k: v[:n] for k, v in joined.items()}, {k: v[n:] for k, v in joined.items()})
