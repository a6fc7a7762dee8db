"""The paper's released trained models as weaklesion checkpoints
(``python -m weaklesion import-checkpoint``).

The release offers ``ham_a1.pt`` (A1), ``ham_a1class.pt`` (A1+L) and ``ham_coseg.pt``
(ACoseg), each ``torch.save({"model_dict": state_dict})`` of a network built with
segmentation-models-pytorch 0.1.3, whose parameter names and shapes are those of the smp this
project uses. Their names map onto the project's models as follows:

- A1 and A1+L: smp's ``DeepLabV3Plus`` keys (``encoder.*``, ``decoder.*``,
  ``segmentation_head.*``, A1+L also ``classification_head.3.*``, whose rows are k) go under
  the models' ``deeplab.``.
- ACoseg: ``deeplab_model.*`` is the DeepLabV3+; ``deeplab_encoder.*``, ``deeplab_decoder.*``
  and ``deeplab_seghead.*`` are second names of the same tensors (checked equal, then
  dropped); ``mlp1a``/``mlp2a`` are the deepest stage's attention MLP and ``mlp1b``/``mlp2b``
  stage 1's.

An imported model is fed what the released evaluation fed it: ``protocol: paper``'s input
pipeline of its dataset format (channel order, reflect-101 padding, the 384×480 canvas), fp32.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from weaklesion.datasets import adapter_class
from weaklesion.errors import MissingFilesError, WeaklesionError
from weaklesion.models import MODEL_NAMES
from weaklesion.models.registry import build_model
from weaklesion.protocols import PAPER
from weaklesion.raw.verify import file_md5
from weaklesion.training.checkpoints import save_checkpoint
from weaklesion.training.schedules import paper_schedule
from weaklesion.training.settings import PAD_MODE, TrainSettings

RELEASED_KEY = "model_dict"
RELEASED_GEOMETRY = "paper"
# The release's ACoseg: second names of its DeepLabV3+'s parts, and its attention layers.
COSEG_ALIASES = {"deeplab_encoder.": "deeplab_model.encoder.",
                 "deeplab_decoder.": "deeplab_model.decoder.",
                 "deeplab_seghead.": "deeplab_model.segmentation_head."}
COSEG_ATTENTION = {"mlp1a.": "deep_attention.mlp.0.", "mlp2a.": "deep_attention.mlp.2.",
                   "mlp1b.": "highres_attention.mlp.0.", "mlp2b.": "highres_attention.mlp.2."}
# ResNet encoders by (blocks per stage, residual block kind): the keys tell them apart.
RESNETS = {((2, 2, 2, 2), "basic"): "resnet18", ((3, 4, 6, 3), "basic"): "resnet34",
           ((3, 4, 6, 3), "bottleneck"): "resnet50",
           ((3, 4, 23, 3), "bottleneck"): "resnet101",
           ((3, 8, 36, 3), "bottleneck"): "resnet152"}
_SHOWN = 5  # keys named in an error


def read_released(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of a released file, read without running any code from it."""
    path = Path(path)
    if not path.is_file():
        raise MissingFilesError(f"released checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeaklesionError(f"{path}: torch.load cannot read it safely "
                              f"({type(exc).__name__}); is it a released .pt file?") from exc
    state = payload.get(RELEASED_KEY) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        found = sorted(payload)[:_SHOWN] if isinstance(payload, dict) else type(payload).__name__
        raise WeaklesionError(f"{path}: not a released checkpoint (expected a dict with "
                              f"{RELEASED_KEY!r} holding the weights; found {found})")
    return state


def project_state_dict(released: dict[str, torch.Tensor], model: str,
                       path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The released weights under the project's names for ``model``; WeaklesionError naming
    ``path`` where the layout is another model's."""
    if model == "ACoseg":
        if not any(key.startswith("deeplab_model.") for key in released):
            raise _wrong_layout(path, model, released)
        mapped = {}
        for key, tensor in released.items():
            alias = next((a for a in COSEG_ALIASES if key.startswith(a)), None)
            attention = next((a for a in COSEG_ATTENTION if key.startswith(a)), None)
            if alias is not None:
                original = COSEG_ALIASES[alias] + key[len(alias):]
                if original not in released or not torch.equal(released[original], tensor):
                    raise WeaklesionError(f"{path}: {key} should be a second name of "
                                          f"{original}, but that is absent or differs")
            elif attention is not None:
                mapped[COSEG_ATTENTION[attention] + key[len(attention):]] = tensor
            elif key.startswith("deeplab_model."):
                mapped["deeplab." + key[len("deeplab_model."):]] = tensor
            else:
                mapped[key] = tensor  # reported by the strict load as unexpected
        return mapped
    has_head = any(key.startswith("classification_head.") for key in released)
    if any(key.startswith("deeplab_model.") for key in released) or has_head != (
            model == "A1+L"):
        raise _wrong_layout(path, model, released)
    return {"deeplab." + key: tensor for key, tensor in released.items()}


def _wrong_layout(path, model: str, released: dict) -> WeaklesionError:
    actual = "ACoseg" if any(k.startswith("deeplab_model.") for k in released) else (
        "A1+L" if any(k.startswith("classification_head.") for k in released) else "A1")
    return WeaklesionError(f"{path}: --model {model}, but the file holds a released {actual} "
                           f"(keys {sorted(released)[:_SHOWN]})")


def released_encoder(released: dict[str, torch.Tensor], path: str | os.PathLike) -> str:
    """The ResNet whose blocks the keys describe (the release used resnet101)."""
    blocks, kinds = [], set()
    for stage in range(1, 5):
        pattern = re.compile(rf"(?:^|\.)encoder\.layer{stage}\.(\d+)\.(conv\d)\.weight$")
        found = [pattern.search(key) for key in released]
        indices = {int(m[1]) for m in found if m}
        blocks.append(max(indices) + 1 if indices else 0)
        kinds.update(m[2] for m in found if m)
    kind = "bottleneck" if "conv3" in kinds else "basic"
    try:
        return RESNETS[(tuple(blocks), kind)]
    except KeyError:
        raise WeaklesionError(f"{path}: its encoder keys describe no ResNet this importer "
                              f"knows ({kind} blocks per stage {blocks}); the release used "
                              "resnet101") from None


def _released_options(model: str, state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """k (A1+L) or the attention width (ACoseg), from the shapes of their layers."""
    if model == "A1+L":
        head = state.get("deeplab.classification_head.3.weight")
        # Absent under another name: the strict check then names the keys.
        return {"num_clusters": 2 if head is None else int(head.shape[0])}
    if model == "ACoseg":
        first = state.get("deep_attention.mlp.0.weight")
        return {"attention_hidden": 4096 if first is None else int(first.shape[0])}
    return {}


def released_settings(model: str, encoder: str, num_clusters: int | None,
                      dataset_format: str) -> dict[str, Any]:
    """The input pipeline the released evaluation fed ``model`` (``protocol: paper`` of
    ``dataset_format``, fp32), as a trained checkpoint records it. The training seed is
    unknown."""
    settings = TrainSettings(
        model=model, encoder=encoder, encoder_weights=None, num_clusters=num_clusters,
        geometry=RELEASED_GEOMETRY,
        channel_order=adapter_class(dataset_format).paper_channel_order,
        pad_mode=PAD_MODE[PAPER], schedule=paper_schedule(model, dataset_format), seed=0,
        protocol=PAPER, accumulate_gradients=model == "ACoseg", precision="fp32",
    ).as_dict()
    return {**settings, "seed": None}


def import_released(path: str | os.PathLike, model: str, out: str | os.PathLike, *,
                    dataset_format: str = "ham10000") -> Path:
    """Write the released checkpoint ``path`` of ``model`` as a weaklesion checkpoint at
    ``out`` (nothing is written unless every weight fits)."""
    path = Path(path)
    if model not in MODEL_NAMES:
        raise WeaklesionError(f"--model {model!r}: expected one of {list(MODEL_NAMES)}")
    adapter_class(dataset_format)  # an unknown format is named before the file is read
    released = read_released(path)
    state = project_state_dict(released, model, path)
    encoder = released_encoder(state, path)
    options = _released_options(model, state)
    network = build_model(model, encoder=encoder, encoder_weights=None, **options)
    expected = network.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    misshapen = [f"{key} {tuple(state[key].shape)} (expected {tuple(value.shape)})"
                 for key, value in expected.items()
                 if key in state and state[key].shape != value.shape]
    problems = [f"{label}: {', '.join(keys[:_SHOWN])}" + (f" and {len(keys) - _SHOWN} more"
                                                          if len(keys) > _SHOWN else "")
                for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                    ("wrong shapes", misshapen)) if keys]
    if problems:
        raise WeaklesionError(f"{path}: does not fit the released {model} ({encoder}): "
                              + "; ".join(problems))
    network.load_state_dict(state, strict=True)
    md5 = file_md5(path)
    return save_checkpoint(out, network, epoch=None, extra={
        "settings": released_settings(model, encoder, options.get("num_clusters"),
                                      dataset_format),
        "released": {"file": path.name, "md5": md5, "dataset_format": dataset_format},
    })
