"""CT intensity helpers shared by the CT adapters: Hounsfield-unit windows mapped to uint8."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def as_window(values: Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` from two numbers; ValueError unless both are finite and low < high."""
    try:
        low, high = (float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"a window is two numbers [low, high], got {values!r}") from None
    if not (math.isfinite(low) and math.isfinite(high - low)) or low >= high:
        raise ValueError(f"a window needs finite low < high, got [{low:g}, {high:g}]")
    return low, high


def window_to_uint8(hu: np.ndarray, window: tuple[float, float], *,
                    truncate: bool = False) -> np.ndarray:
    """Map HU in ``[low, high]`` linearly onto 0..255, clip outside, round to nearest (or,
    with ``truncate``, down, as numpy's uint8 cast does: then 255 means saturated)."""
    low, high = window
    # In float64, dividing before scaling: windows far wider or narrower than any HU range
    # would overflow float32 (or multiply 0 by inf) into NaN, cast to arbitrary bytes. A
    # window narrower than floating point resolves overflows to ±inf: a clean threshold.
    with np.errstate(over="ignore"):
        scaled = (np.asarray(hu, dtype=np.float64) - low) / (high - low) * 255.0
    return np.clip(np.floor(scaled) if truncate else np.rint(scaled), 0, 255).astype(np.uint8)


def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    """(H, W) → (H, W, 3) with the slice in every channel."""
    return np.repeat(gray[..., None], 3, axis=2)
