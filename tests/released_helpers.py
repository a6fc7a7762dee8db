"""Files in the layout of the paper's released models, made from this project's models (the
inverse of ``weaklesion import-checkpoint``), with the release's names written out here
independently of the importer's tables."""

from __future__ import annotations

from pathlib import Path

import torch

from weaklesion.models.registry import build_model

# The release's ACoseg: its attention layers by the project's module names ...
RELEASED_ATTENTION_NAMES = {"deep_attention.mlp.0.": "mlp1a.", "deep_attention.mlp.2.": "mlp2a.",
                            "highres_attention.mlp.0.": "mlp1b.",
                            "highres_attention.mlp.2.": "mlp2b."}
# ... and the second names under which it saved its DeepLabV3+'s parts once more.
RELEASED_SECOND_NAMES = {"deeplab_model.encoder.": "deeplab_encoder.",
                         "deeplab_model.decoder.": "deeplab_decoder.",
                         "deeplab_model.segmentation_head.": "deeplab_seghead."}


def random_model(name: str, *, encoder: str = "resnet18", k: int = 5, hidden: int = 64,
                 seed: int = 0):
    """A project model with random weights (and random batch-norm statistics, so that a
    mix-up of buffers shows in the outputs)."""
    torch.manual_seed(seed)
    options = {"attention_hidden": hidden} if name == "ACoseg" else {}
    model = build_model(name, encoder=encoder, encoder_weights=None, num_clusters=k, **options)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def released_state(model) -> dict[str, torch.Tensor]:
    """``model``'s weights under the names the release's file of that model uses."""
    state = model.state_dict()
    if model.name != "ACoseg":
        return {key.removeprefix("deeplab."): value for key, value in state.items()}
    released = {}
    for key, value in state.items():
        prefix = next((p for p in RELEASED_ATTENTION_NAMES if key.startswith(p)), None)
        if prefix is not None:
            released[RELEASED_ATTENTION_NAMES[prefix] + key[len(prefix):]] = value
        else:
            released["deeplab_model." + key.removeprefix("deeplab.")] = value
    for key, value in list(released.items()):
        prefix = next((p for p in RELEASED_SECOND_NAMES if key.startswith(p)), None)
        if prefix is not None:
            released[RELEASED_SECOND_NAMES[prefix] + key[len(prefix):]] = value
    return released


def write_released(model, path: Path, state: dict | None = None) -> Path:
    """``torch.save({'model_dict': state_dict})``, as the release saved its models."""
    torch.save({"model_dict": released_state(model) if state is None else state}, path)
    return path
