"""Where and in what arithmetic a network runs: the torch device of a job, and fp32 or bf16
autocast. Training and evaluation both use these, so that a model is scored as it trained."""

from __future__ import annotations

import torch

from weaklesion.errors import ConfigError


def pick_device(preference: str = "auto") -> torch.device:
    """``auto``: CUDA where there is one, else the CPU; or the device named."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device = {preference!r} but no CUDA device is available")
    return torch.device(preference)


PRECISIONS = ("fp32", "bf16")


def autocast(device: torch.device, precision: str, cache_enabled: bool = True):
    """bf16 autocast on CUDA where ``precision`` is ``bf16``; fp32 otherwise."""
    if precision not in PRECISIONS:
        raise ConfigError(f"train.precision = {precision!r}; valid: {', '.join(PRECISIONS)}")
    return torch.autocast(device.type, dtype=torch.bfloat16,
                          enabled=device.type == "cuda" and precision == "bf16",
                          cache_enabled=cache_enabled)
