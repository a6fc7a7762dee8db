"""Faster ways to run the same training, switched in the config's ``gpus:`` section.

Each gives the eager step's numbers to within floating-point rounding, so none of them is a
Snakemake param: switching one reruns nothing. Each is off until a GPU session has measured
it (``bash benchmarks/gpu_grid.sh``, BENCHMARKS.md):

- ``cuda_graphs``: replay every training step as one captured CUDA graph
  (:mod:`weaklesion.training.cuda_graphs`; CUDA only).
- ``fused_pairs``: ACoseg's two forward passes of a pair as one
  (:mod:`weaklesion.training.fused_passes`).
- ``compile``: the network through ``torch.compile`` (static shapes, one graph per shape).
- ``validation_batch_size``: images per validation batch (default: the training batch, at
  least 8). Evaluation has its own ``evaluate.batch_size``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from weaklesion.errors import ConfigError


@dataclass(frozen=True)
class FastPaths:
    """The switches of one training job (all off: :data:`EAGER`)."""

    cuda_graphs: bool = False
    fused_pairs: bool = False
    compile: bool = False
    validation_batch_size: int | None = None

    def __post_init__(self):
        for name in ("cuda_graphs", "fused_pairs", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"gpus.{name} = {getattr(self, name)!r}; expected true or "
                                  "false")
        size = self.validation_batch_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                 or size < 1):
            raise ConfigError(f"gpus.validation_batch_size = {size!r}; expected a positive "
                              "integer or null")

    def graphs_on(self, device: torch.device) -> bool:
        """Whether steps are replayed as CUDA graphs on ``device`` (only CUDA has them)."""
        return self.cuda_graphs and device.type == "cuda"

    def validation_batch(self, training_batch: int) -> int:
        """Images per validation batch: the switch, or the training batch (at least 8)."""
        return self.validation_batch_size or max(training_batch, 8)

    def described(self) -> str:
        """The switches that are on, for the training log."""
        on = [f.name for f in dataclasses.fields(self)
              if f.name != "validation_batch_size" and getattr(self, f.name)]
        if self.validation_batch_size is not None:
            on.append(f"validation batches of {self.validation_batch_size}")
        return ", ".join(on) or "none (eager steps)"


EAGER = FastPaths()  # every switch off: the eager step
FAST_PATH_KEYS = frozenset(f.name for f in dataclasses.fields(FastPaths))


def split_gpu_config(gpus: Mapping[str, Any]) -> tuple[FastPaths, dict[str, Any]]:
    """The ``gpus:`` section as its fast paths and the rest, the device claim's settings
    (:func:`weaklesion.training.devices.claim_device`)."""
    fast = FastPaths(**{k: v for k, v in gpus.items() if k in FAST_PATH_KEYS})
    return fast, {k: v for k, v in gpus.items() if k not in FAST_PATH_KEYS}


def compiled(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` through ``torch.compile``, sharing its parameters (save ``model``, not this).

    Static shapes: training batches all have one shape, and a validation split two (full
    batches and the last one), so each shape gets its own specialised graph rather than one
    graph for symbolic shapes. Dropout draws from PyTorch's own generator, as in eager
    mode (inductor's faster generator would give other masks), so that a compiled run
    differs from an eager one by rounding only; this setting is process-wide.
    """
    import torch._inductor.config  # deferred: only runs that compile need inductor

    torch._inductor.config.fallback_random = True
    return torch.compile(model, dynamic=False)
