"""The networks (used by rules ``fetch_encoder_weights``, ``train_model`` and
``evaluate_model``): A1, A1+L and ACoseg on smp's DeepLabV3+ (:mod:`.registry`), their
encoder weights, and the input canvas a 120×120 patch is placed on.

The names here are light to import (the tables and figures order their rows by them, the
workflow plans with them); :mod:`weaklesion.models.registry` builds the networks.
"""

import os

MODEL_NAMES = ("A1", "ACoseg", "A1+L")
"""The paper's models, in the order of its tables and figures."""

BASELINE_MODEL = "A1"
"""The model every other is compared with (the paper's relative changes, the paired
comparisons)."""

PROPOSED_MODEL = "A1+L"
"""The paper's proposal, whose claim the comparisons test."""

RELEASED_SUFFIX = " (released)"


def released_label(model: str) -> str:
    """The tables' name for the paper's own trained ``model`` (its released checkpoint):
    ``A1`` → ``A1 (released)``."""
    return f"{model}{RELEASED_SUFFIX}"


def released_model(label: str) -> str | None:
    """The model a :func:`released_label` names (None for a model this workflow trained)."""
    return label.removesuffix(RELEASED_SUFFIX) if label.endswith(RELEASED_SUFFIX) else None


MODEL_ORDER = (*MODEL_NAMES, *(released_label(model) for model in MODEL_NAMES))
"""The order of the tables' rows: the trained models, then the released ones."""

WEIGHT_FILE_SUFFIXES = (".pt", ".pth")


def is_weight_file(weights: object) -> bool:
    """Whether an ``encoder_weights`` value names a local file rather than an smp preset."""
    if isinstance(weights, os.PathLike):
        return True
    return isinstance(weights, str) and (
        weights.lower().endswith(WEIGHT_FILE_SUFFIXES) or "/" in weights or os.sep in weights
    )
