"""A training step captured once as a CUDA graph and replayed for every later batch
(``gpus.cuda_graphs: true``; off by default until a GPU session has checked it in training).

At the paper's batch of 10 a DeepLabV3+/ResNet-101 step is bound by launching a few thousand
small kernels, not by the GPU's arithmetic; replaying a captured graph launches the whole step
at once (2.1-4.8x on an H200, BENCHMARKS.md). The step is the eager one, op for
op: the same loss, gradient clipping and Adam update (created with ``capturable=True``), the
same gradient accumulation where the protocol keeps it, BatchNorm statistics per forward
pass. Shapes must be static, which they are: every training batch is full (the last,
smaller one is dropped) and the canvas is fixed by the geometry; a batch of another shape is
stepped eagerly. If capturing fails, training goes on eagerly, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

log = logging.getLogger(__name__)

LossTerms = Callable[[torch.Tensor, dict[str, torch.Tensor]], dict[str, torch.Tensor]]


class GraphedStep:
    """One optimiser step (loss, backward, clip, Adam) for fixed-shape batches.

    The first ``warmup`` calls run eagerly on a side stream, as capture requires (they are
    real training steps on real batches); the next call captures the step and replays it,
    and every later call copies its batch into the captured inputs and replays.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 loss_terms: LossTerms, *, grad_clip: float | None,
                 accumulate_gradients: bool = False, warmup: int = 3):
        self.model, self.optimizer, self.loss_terms = model, optimizer, loss_terms
        self.grad_clip, self.accumulate_gradients = grad_clip, accumulate_gradients
        self.warmup, self.calls = warmup, 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self.shape: torch.Size | None = None
        self._x: torch.Tensor | None = None
        self._targets: dict[str, torch.Tensor] = {}
        self._terms: dict[str, torch.Tensor] = {}
        self._side = torch.cuda.Stream()

    def step(self, x: torch.Tensor, targets: dict[str, torch.Tensor]
             ) -> dict[str, torch.Tensor]:
        """The eager step, as ``weaklesion.training.steps.optimiser_step`` takes it."""
        if not self.accumulate_gradients:
            # Zeroed in place, not set to None: the captured backward writes into these.
            self.optimizer.zero_grad(set_to_none=False)
        terms = self.loss_terms(x, targets)
        terms["loss"].backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return terms

    def __call__(self, x: torch.Tensor, targets: dict[str, torch.Tensor]
                 ) -> dict[str, torch.Tensor]:
        """One training step; the loss terms it returns are overwritten by the next replay,
        so read (or copy) them before the next call."""
        self.calls += 1
        if self.failed or (self.shape is not None and x.shape != self.shape):
            return self.step(x, targets)
        if self.calls <= self.warmup:
            self.shape = x.shape
            self._side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self._side):
                terms = self.step(x, targets)
            torch.cuda.current_stream().wait_stream(self._side)
            return terms
        if self.graph is None:
            return self._capture(x, targets)
        self._x.copy_(x)
        for key, value in targets.items():
            self._targets[key].copy_(value)
        self.graph.replay()
        return self._terms

    def _capture(self, x, targets):
        self.shape = x.shape
        self._x = x.clone()
        self._targets = {k: v.clone() for k, v in targets.items()}
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self._terms = self.step(self._x, self._targets)
        except RuntimeError as error:
            # Nothing ran while capturing: this batch is stepped eagerly, as are the rest.
            log.warning("capturing the training step as a CUDA graph failed (%s); training "
                        "eagerly", error)
            self.failed = True
            torch.cuda.synchronize()
            return self.step(x, targets)
        self.graph = graph
        graph.replay()
        return self._terms
