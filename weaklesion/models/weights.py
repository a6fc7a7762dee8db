"""Encoder weights: fetched once through smp into a local file, then loaded from that file.

Training jobs often run where there is no internet. The workflow therefore downloads the
ImageNet weights in one local step (:func:`fetch_encoder_weights`) and every model is built
from the resulting ``.pt`` file, a plain encoder state dict.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path

import segmentation_models_pytorch as smp
import torch
from torch import nn

from weaklesion.errors import ConfigError, MissingFilesError, WeaklesionError
from weaklesion.models import WEIGHT_FILE_SUFFIXES
from weaklesion.utilities.atomic import atomic_open

# A full torchvision ResNet state dict also holds its ImageNet classifier, which smp's
# encoders drop; accepting those keys lets such files be used as they are.
_CLASSIFIER_PREFIXES = ("fc.",)


def check_encoder_name(encoder: str) -> None:
    """Raise ConfigError naming the ``encoder`` config key if smp does not know ``encoder``."""
    if isinstance(encoder, str) and encoder.startswith("tu-"):
        return  # timm's registry is open-ended; timm reports unknown names itself
    names = smp.encoders.get_encoder_names()
    if encoder not in names:
        close = difflib.get_close_matches(str(encoder), names, n=5)
        hint = f"; did you mean one of {close}?" if close else ""
        raise ConfigError(
            f"encoder: unknown encoder {encoder!r}{hint} "
            f"(segmentation_models_pytorch.encoders.get_encoder_names() lists all)"
        )


def check_weight_preset(encoder: str, weights: str) -> None:
    """Raise ConfigError if ``weights`` is not a pretrained preset smp offers for ``encoder``."""
    if encoder.startswith("tu-"):
        return
    presets = sorted(smp.encoders.encoders[encoder]["pretrained_settings"])
    if weights not in presets:
        raise ConfigError(
            f"encoder_weights: {weights!r} is neither a local {'/'.join(WEIGHT_FILE_SUFFIXES)} "
            f"file nor a preset of encoder {encoder!r}; presets are {presets}"
        )


def fetch_encoder_weights(encoder: str, weights: str, dest: str | os.PathLike) -> Path:
    """Build ``encoder`` with smp's ``weights`` preset (this downloads them) and save its
    state dict to ``dest`` atomically. Run where there is internet."""
    check_encoder_name(encoder)
    check_weight_preset(encoder, weights)
    module = smp.encoders.get_encoder(encoder, weights=weights)
    state = {key: value.detach().cpu().clone() for key, value in module.state_dict().items()}
    dest = Path(dest)
    # A file handle keeps the random temporary name out of the archive (reproducible bytes).
    with atomic_open(dest, suffix=dest.suffix) as handle:
        torch.save(state, handle)
    return dest


def load_encoder_weights(encoder_module: nn.Module, path: str | os.PathLike) -> None:
    """Load an encoder state dict from ``path`` into ``encoder_module``, strictly.

    Every parameter and buffer must be present with the right shape; the only keys tolerated
    beyond the encoder's are a ResNet's ``fc.*`` classifier.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFilesError(f"encoder_weights: file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeaklesionError(f"{path}: not a readable PyTorch state dict ({exc})") from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise WeaklesionError(
            f"{path}: expected an encoder state dict (parameter name → tensor), "
            f"got {type(state).__name__}"
        )
    state = {k: v for k, v in state.items() if not k.startswith(_CLASSIFIER_PREFIXES)}
    problems = _state_dict_mismatches(encoder_module.state_dict(), state)
    if problems:
        raise WeaklesionError(
            f"{path}: encoder weights do not fit this encoder: {'; '.join(problems)}"
        )
    encoder_module.load_state_dict(state)


def _state_dict_mismatches(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor], show: int = 3
) -> list[str]:
    def listing(keys: list[str]) -> str:
        more = f" and {len(keys) - show} more" if len(keys) > show else ""
        return ", ".join(keys[:show]) + more

    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    reshaped = sorted(
        f"{key} {tuple(given[key].shape)} != {tuple(expected[key].shape)}"
        for key in set(expected) & set(given)
        if given[key].shape != expected[key].shape
    )
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({listing(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({listing(unexpected)})")
    if reshaped:
        problems.append(f"{len(reshaped)} of another shape ({listing(reshaped)})")
    return problems
