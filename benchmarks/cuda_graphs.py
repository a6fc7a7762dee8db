"""A whole training step (forward, loss, backward, optimiser step) captured as one CUDA graph.

At the paper's batch sizes (10 patches) a step of DeepLabV3+/ResNet-101 is bound by the CPU
launching a few thousand small kernels, not by the GPU: a step costs about the same at
128×128 as at 384×480 (benchmarks/gpu_check.sh). Replaying a captured graph launches the
whole step at once. Shapes must be static, which they are: every training batch has
``batch_size`` patches (the last, smaller one is dropped) and the canvas is fixed by the
geometry. The optimiser must be created with ``capturable=True``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

LossFunction = Callable[[torch.Tensor, dict[str, torch.Tensor]], dict[str, torch.Tensor]]


class GraphedStep:
    """Replays forward + backward + (clipping) + optimiser step for static-shape batches.

    The first ``warmup`` calls run eagerly on a side stream, as CUDA graph capture requires
    (they are real training steps on real batches); the next call captures the graph, and
    every later call only copies the batch into the static inputs and replays it.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 loss: LossFunction, *, grad_clip: float | None = None, warmup: int = 3):
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self.grad_clip = grad_clip
        self.warmup = warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_x: torch.Tensor | None = None
        self.static_targets: dict[str, torch.Tensor] | None = None
        self.static_terms: dict[str, torch.Tensor] | None = None
        self.side_stream = torch.cuda.Stream()

    def _step(self, x: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=False)
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
            terms = self.loss(x, targets)
        terms["loss"].backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return terms

    def __call__(self, x: torch.Tensor, targets: dict[str, torch.Tensor]
                 ) -> dict[str, torch.Tensor]:
        """One training step; returns the loss terms (tensors on the GPU, not synchronised)."""
        self.calls += 1
        if self.calls <= self.warmup:
            self.side_stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side_stream):
                terms = self._step(x, targets)
            torch.cuda.current_stream().wait_stream(self.side_stream)
            return terms
        if self.graph is None:
            self.static_x = x.clone()
            self.static_targets = {k: v.clone() for k, v in targets.items()}
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.static_terms = self._step(self.static_x, self.static_targets)
        else:
            self.static_x.copy_(x)
            for key, value in targets.items():
                self.static_targets[key].copy_(value)
        self.graph.replay()
        return self.static_terms
