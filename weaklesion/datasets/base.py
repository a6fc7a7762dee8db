"""What every dataset adapter produces: lesions as 120×120 patches, or exclusions with a reason.

An adapter turns one on-disk format into a sorted list of picklable *items* (one image, one
volume or one DL_info row) and a ``load(item)`` that returns the item's lesions. Items are
processed in parallel by :mod:`weaklesion.preprocess`; their order fixes the order of lesions
in ``data.h5``, which the paper's index-based splits rely on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


@dataclass
class Lesion:
    """One lesion patch, ready to store.

    image: (120, 120, 3) uint8 RGB. mask: (120, 120) bool ground truth, or None where the
    dataset has none (DeepLesion). recist: (4, 2) float32 endpoints in patch pixel coordinates
    (x, y) — long axis then short axis — or None where the weak label comes from the mask.
    """

    lesion_id: str
    group_id: str
    source: str
    image: np.ndarray
    mask: np.ndarray | None = None
    recist: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Exclusion:
    """A lesion or source file left out, and why; one row of excluded.csv."""

    source: str
    reason: str
    lesion_id: str = ""


@dataclass
class ItemResult:
    lesions: list[Lesion]
    exclusions: list[Exclusion]


class Adapter(Protocol):
    """The interface of one on-disk format (see the modules beside this one)."""

    has_masks: bool

    def list_items(self, root: Path, settings: Mapping[str, Any]) -> Sequence[Any]:
        """Sorted, picklable work items; raise MissingFilesError naming what is absent."""

    def load(self, item: Any, settings: Mapping[str, Any]) -> ItemResult:
        """Lesions of one item. Raise BadImageError for an unreadable item."""
