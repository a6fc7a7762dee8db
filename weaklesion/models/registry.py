"""The paper's three networks behind one registry, by the names of :data:`MODEL_NAMES`.

>>> model = build_model("A1+L", encoder="resnet101", encoder_weights="weights/resnet101.pt",
...                     num_clusters=45)
>>> out = model(x)          # {"mask": (N, 1, H, W) logits, "cluster": (N, 45) logits}
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from weaklesion.errors import ConfigError
from weaklesion.models import MODEL_NAMES
from weaklesion.models.a1 import A1
from weaklesion.models.a1l import A1L
from weaklesion.models.acoseg import ACoseg
from weaklesion.models.base import LesionModel

MODEL_CLASSES: dict[str, type[LesionModel]] = {"A1": A1, "ACoseg": ACoseg, "A1+L": A1L}
assert tuple(MODEL_CLASSES) == MODEL_NAMES


def check_model_name(name: str) -> type[LesionModel]:
    """The class registered as ``name``; ConfigError listing the valid names otherwise."""
    try:
        return MODEL_CLASSES[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"model: unknown model {name!r}; valid names are {list(MODEL_NAMES)}"
        ) from None


def build_model(
    name: str,
    *,
    encoder: str,
    encoder_weights: str | os.PathLike | None,
    num_clusters: int | None = None,
    **kwargs: Any,
) -> LesionModel:
    """Construct the network ``name`` (one of :data:`MODEL_NAMES`).

    ``num_clusters`` is required by A1+L and ignored by the other two, so a workflow can pass
    each dataset's k uniformly. ``kwargs`` are model-specific options (A1+L:
    ``cluster_dropout``; ACoseg: ``attention_hidden``).
    """
    cls = check_model_name(name)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        options = sorted(accepted - {"encoder", "encoder_weights", "num_clusters"})
        raise ConfigError(
            f"model options {unknown} do not apply to {name}; its options are {options}"
        )
    if "num_clusters" in accepted:
        if num_clusters is None:
            raise ConfigError(f"num_clusters: model {name} needs the number of clusters k")
        kwargs["num_clusters"] = num_clusters
    return cls(encoder=encoder, encoder_weights=encoder_weights, **kwargs)
