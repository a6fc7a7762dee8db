"""What every dataset adapter produces: lesions as 120×120 patches, or exclusions with a reason.

An adapter turns one on-disk format into a sorted list of picklable *items* (one image, one
volume or one DL_info row) and a ``load(item)`` that returns the item's lesions. Items are
processed in parallel by :mod:`weaklesion.datasets.preprocess`; their order fixes the order
of lesions in ``data.h5``, which the paper's index-based splits rely on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from weaklesion.raw.sources import SourceSpec


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


class Adapter:
    """One on-disk format: how to read it (the methods, see the modules beside this one), and
    the facts about it that every later stage reads from here (the class attributes)."""

    has_masks: bool = True
    """Whether lesions come with ground-truth masks. Without (DeepLesion), the weak label is
    built from RECIST marks and the runs are scored against the GrabCut refinement of the
    ellipses (:mod:`weaklesion.evaluation.evaluated_set`)."""

    min_ellipse_iou: float | None = None
    """``protocol: corrected`` drops lesions whose fitted ellipse covers their mask less."""

    released_code: str = "ham10000"
    """Which of the release's three pipelines ``protocol: paper`` follows for this format
    (``ham10000``, ``lits`` or ``deeplesion``): its target recipe
    (:data:`weaklesion.ellipses.drawing.RELEASED_RECIPES`), schedule, model selection, split
    and evaluated set."""

    paper_channel_order: str = "rgb"
    """The channel order the released code fed the network (HAM10000: BGR, from OpenCV)."""

    default_k: int = 10
    """Clusters of k-means when the config gives no ``k`` (the paper's for its datasets)."""

    published_as: str | None = None
    """The dataset's name in the paper's table (``weaklesion/analysis/published_table.csv``),
    None for formats the paper does not report."""

    generated: bool = False
    """Whether the workflow makes the raw files itself (the demo) instead of obtaining them;
    then ``files`` names them."""

    files: tuple[str, ...] = ()

    manifest: str | None = None
    """The shipped download manifest (``weaklesion/raw/manifests/<name>.tsv``), if any."""

    release_lesions: int | None = None
    """Lesions in the full release after the paper's exclusions, to size jobs for a scheduler
    before preprocessing has counted them."""

    official_split: bool = False
    """Whether the dataset has its own train / val / test column, used by both protocols."""

    worker_memory_mb: int = 250
    """Memory of one preprocessing worker (a LiTS worker holds a CT volume)."""

    @classmethod
    def expected_lesions(cls, settings: Mapping[str, Any]) -> int:
        """How many lesions the dataset will have, before preprocessing has counted them
        (to size jobs for a scheduler): the full release's, or a guess."""
        return cls.release_lesions or 1_000

    def list_items(self, source: SourceSpec, settings: Mapping[str, Any]) -> Sequence[Any]:
        """Sorted, picklable work items found in ``source`` (the dataset's folder, its
        archives, or a SourceTree of either); raise MissingFilesError naming what is absent."""
        raise NotImplementedError

    def item_id(self, item: Any) -> str:
        """The id of the lesion or file an item concerns, for excluded.csv."""
        raise NotImplementedError

    def load(self, item: Any, settings: Mapping[str, Any]) -> ItemResult:
        """Lesions of one item. Raise BadImageError for an unreadable item."""
        raise NotImplementedError
