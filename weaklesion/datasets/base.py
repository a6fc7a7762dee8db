"""What every dataset adapter produces: lesions as 120×120 patches, or exclusions with a reason.

An adapter turns one on-disk format into a sorted list of picklable *items* (one image, one
volume or one DL_info row) and a ``load(item)`` that returns the item's lesions. Items are
processed in parallel by :mod:`weaklesion.preprocess`; their order fixes the order of lesions
in ``data.h5``, which the paper's index-based splits rely on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from weaklesion.sources import SourceSpec


@dataclass
class WeakLabel:
    """A lesion's weak label: the ellipse k-means clusters, and the one its target is drawn
    from, which differ under ``protocol: paper`` (the released code fitted them on different
    images).

    ellipse: (5,) cx, cy, width, height, angle on the 120×120 patch (the cluster features).
    target_ellipse: (5,) the same on the ``target_frame`` (rows, cols) the released code drew
    its target on: the full image (HAM10000), the crop (LiTS) or the patch.
    iou: the filled ellipse's IoU with the mask, as the protocol's keep rule measured it
    (NaN without a mask).
    """

    ellipse: np.ndarray
    target_ellipse: np.ndarray
    target_frame: tuple[int, int]
    iou: float


@dataclass
class Lesion:
    """One lesion patch, ready to store.

    image: (120, 120, 3) uint8 RGB. mask: (120, 120) bool ground truth, or None where the
    dataset has none (DeepLesion). recist: (4, 2) float32 endpoints in patch pixel coordinates
    (x, y) — long axis then short axis — or None where the weak label comes from the mask.
    weak_label: set by adapters that follow the released procedure (``protocol: paper``),
    which fits on images only the adapter has; otherwise preprocessing fits it on the patch.
    """

    lesion_id: str
    group_id: str
    source: str
    image: np.ndarray
    mask: np.ndarray | None = None
    recist: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    weak_label: WeakLabel | None = None
    # Where a user finds the lesion's file (archive:member, or a path) for excluded.csv and
    # messages; ``source`` (stored in data.h5) is its tree path, the same for every source.
    origin: str = ""


@dataclass(frozen=True)
class Exclusion:
    """A lesion or source file left out, and why; one row of excluded.csv."""

    source: str
    reason: str
    lesion_id: str = ""


@dataclass
class ItemResult:
    """An item's lesions and exclusions. ``cluster_rows``: (lesion_id, features) of the
    released LiTS ellipse table, which lists components before some are excluded (PROTOCOL
    item 6). ``warnings``: for the log (lesions kept only because the protocol keeps them)."""

    lesions: list[Lesion]
    exclusions: list[Exclusion]
    cluster_rows: list[tuple[str, np.ndarray]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Adapter(Protocol):
    """The interface of one on-disk format (see the modules beside this one)."""

    has_masks: bool
    min_ellipse_iou: float | None  # protocol corrected: fits covering their mask less are dropped
    released_target: str  # the released target recipe (weaklesion.targets.RELEASED_RECIPES)

    def list_items(self, source: SourceSpec, settings: Mapping[str, Any]) -> Sequence[Any]:
        """Sorted, picklable work items found in ``source`` (the dataset's folder, its
        archives, or a SourceTree of either); raise MissingFilesError naming what is absent."""

    def item_id(self, item: Any) -> str:
        """The id of the lesion or file an item concerns, for excluded.csv."""

    def load(self, item: Any, settings: Mapping[str, Any]) -> ItemResult:
        """Lesions of one item. Raise BadImageError for an unreadable item."""
