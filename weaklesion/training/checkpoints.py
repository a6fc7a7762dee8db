"""Self-describing checkpoint files: weights plus what is needed to rebuild the network.

A checkpoint is a ``torch.save`` of a plain dict (loadable with ``weights_only=True``)::

    format          "weaklesion.checkpoint"
    format_version  1
    model           the model's ``config`` (name, encoder, encoder_weights, num_clusters, ...)
    state_dict      the model's parameters and buffers, on the CPU
    optimizer       the optimiser's state dict, or None
    epoch           int, or None where unknown (an imported released model)
    extra           a dict of plain values chosen by the caller (metrics, seed, ...)
    weaklesion_version, torch_version
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

import weaklesion
from weaklesion.errors import MissingFilesError, WeaklesionError
from weaklesion.models.base import LesionModel
from weaklesion.models.registry import build_model
from weaklesion.utilities.atomic import atomic_open

FORMAT = "weaklesion.checkpoint"
FORMAT_VERSION = 1

_PLAIN_SCALARS = (str, int, float, bool, type(None))
_ABSENT = "<absent>"


def save_checkpoint(
    path: str | os.PathLike,
    model: LesionModel,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int | None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` (and ``optimizer``) to ``path`` under a temporary name, then rename."""
    if not isinstance(model, LesionModel):
        raise TypeError(f"expected a weaklesion model, got {type(model).__name__}")
    extra = _plain(dict(extra or {}), "extra")
    config = _plain(dict(model.config), "model.config")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": None if optimizer is None else _plain(optimizer.state_dict(), "optimizer"),
        "epoch": None if epoch is None else int(epoch),
        "extra": extra,
        "weaklesion_version": weaklesion.__version__,
        "torch_version": str(torch.__version__),  # a str subclass weights_only refuses
    }
    path = Path(path)
    # Through a file handle: given a path, torch.save names the archive's root folder after
    # the (random) temporary file name, and the same checkpoint would differ byte for byte.
    with atomic_open(path, suffix=path.suffix) as handle:
        torch.save(payload, handle)
    return path


def read_checkpoint(
    path: str | os.PathLike, *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """The checkpoint's contents as saved; WeaklesionError naming the file if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise MissingFilesError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise WeaklesionError(
            f"{path}: not a weaklesion checkpoint (torch.load cannot read it: {type(exc).__name__})"
        ) from exc
    if isinstance(payload, dict) and "model_dict" in payload:
        raise WeaklesionError(
            f"{path}: not a weaklesion checkpoint but, by its layout, one of the paper's "
            "released models; import it first: python -m weaklesion import-checkpoint --model "
            f"{{A1,A1+L,ACoseg}} {path} --out MODEL.pt"
        )
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeaklesionError(
            f"{path}: not a weaklesion checkpoint (no {FORMAT!r} marker; "
            f"files are written by weaklesion.training.checkpoints.save_checkpoint)"
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise WeaklesionError(
            f"{path}: checkpoint format version {version!r} is newer than this weaklesion "
            f"reads ({FORMAT_VERSION}); upgrade weaklesion"
        )
    return payload


def load_checkpoint(
    path: str | os.PathLike,
    *,
    expect: Mapping[str, Any] | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[LesionModel, dict[str, Any]]:
    """Rebuild the model stored in ``path`` and load its weights.

    ``expect`` maps config fields (``name``, ``encoder``, ``num_clusters``, ...) to the values
    the caller requires; any difference raises WeaklesionError naming the file, the field and
    both values. ``num_clusters`` is only compared for models with a cluster head, so one
    dataset-wide k can be passed for every model. Returns ``(model, state)`` with ``state``
    holding ``epoch``, ``optimizer``, ``extra`` and ``config``; the model is on the CPU
    (``map_location``) in training mode, as a new module is.
    """
    path = Path(path)
    payload = read_checkpoint(path, map_location=map_location)
    config = dict(payload["model"])
    for field, expected in (expect or {}).items():
        stored = config.get(field, _ABSENT)
        if field == "num_clusters" and stored is None:
            continue
        if stored != expected:
            raise WeaklesionError(
                f"{path}: checkpoint field {field!r} is {stored!r} but {expected!r} was expected"
            )
    options = {
        k: v
        for k, v in config.items()
        if k not in ("name", "encoder", "encoder_weights", "num_clusters")
    }
    # The stored weights replace the encoder's initial ones, so nothing is downloaded.
    model = build_model(
        config["name"],
        encoder=config["encoder"],
        encoder_weights=None,
        num_clusters=config.get("num_clusters"),
        **options,
    )
    model.config["encoder_weights"] = config.get("encoder_weights")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise WeaklesionError(
            f"{path}: weights do not fit the {config['name']} model described in it: {exc}"
        ) from exc
    model.to(map_location)
    state = {
        "epoch": payload["epoch"],
        "optimizer": payload["optimizer"],
        "extra": payload["extra"],
        "config": config,
    }
    return model, state


def _plain(value: Any, where: str) -> Any:
    """A copy of ``value`` that ``torch.load(weights_only=True)`` will accept: numpy scalars
    become Python numbers; anything else unsafe is refused now rather than at load time."""
    if isinstance(value, Mapping):
        for key in value:
            if type(key) not in (str, int):
                raise TypeError(f"{where}: key {key!r} is not a str or int")
        return {key: _plain(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(item, f"{where}[{i}]") for i, item in enumerate(value))
    if isinstance(value, np.generic):
        return value.item()
    if type(value) in _PLAIN_SCALARS or isinstance(value, torch.Tensor):
        return value
    raise TypeError(
        f"{where}: {type(value).__name__} cannot be stored in a checkpoint; use str, int, "
        f"float, bool, None, tensors, and lists/tuples/dicts of them"
    )
