"""Which lesions a trained run is scored on, and against which masks.

The test split against the ground truth (without masks: the GrabCut refinement of the
ellipses), or, under ``protocol: paper``, exactly what the released code scored (PROTOCOL
item 14). The workflow plans its evaluation jobs with it, and the figures draw the same
reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from weaklesion.datasets import adapter_class
from weaklesion.protocols import PAPER

RELEASED_TEST_BATCH = 8
"""Batch size of the released test loaders, which scored whole batches only."""

REFERENCE_STORES = {"mask": "data.h5", "grabcut": "grabcut.h5", "ellipse": "targets.h5"}
"""The file of a protocol's folder that holds each kind of reference mask."""


def test_reference(fmt: str) -> str:
    """What a format's test lesions are scored against: their ground-truth masks, or, for a
    format without masks (DeepLesion), the GrabCut refinement of their ellipses."""
    return "mask" if adapter_class(fmt).has_masks else "grabcut"


@dataclass(frozen=True)
class EvaluationPlan:
    """What a run is scored on: the lesions of ``split``, against the ``reference`` masks
    (``mask``: ground truth in data.h5; ``grabcut``: grabcut.h5; ``ellipse``: the training
    targets in targets.h5); with ``whole_batches_of``, only the lesions in whole batches of
    that size, in the split's order."""

    split: str = "test"
    reference: str = "mask"
    whole_batches_of: int | None = None

    @property
    def reference_store(self) -> str:
        """The file (in the protocol's folder) holding the reference masks."""
        return REFERENCE_STORES[self.reference]

    def scored(self, count: int) -> slice:
        """The rows of a split of ``count`` lesions that are scored. A split smaller than one
        batch (only in toy datasets) is scored whole rather than not at all."""
        if self.whole_batches_of is None or count < self.whole_batches_of:
            return slice(0, count)
        return slice(0, count - count % self.whole_batches_of)


def evaluation_plan(fmt: str, protocol: str, model: str) -> EvaluationPlan:
    """The evaluated set of one run.

    ``corrected``: the whole test split against the ground truth, or, for a format without
    masks (DeepLesion), against the GrabCut refinement of its ellipses, which stands in for
    them. ``paper``, as released (item 14): the test loaders scored whole batches of 8 only —
    on LiTS for every model (1,624 of 1,630 lesions), on HAM10000 and DeepLesion for ACoseg —
    and DeepLesion's A1+L was scored on the *training* loader against its training ellipses
    (a defect kept so that the published row is reproduced; ``corrected`` scores it like the
    other models).
    """
    adapter = adapter_class(fmt)
    reference = test_reference(fmt)
    if protocol != PAPER:
        return EvaluationPlan(reference=reference)
    if adapter.released_code == "deeplesion" and model == "A1+L":
        return EvaluationPlan(split="train", reference="ellipse")
    if adapter.released_code == "lits" or model == "ACoseg":
        return EvaluationPlan(reference=reference, whole_batches_of=RELEASED_TEST_BATCH)
    return EvaluationPlan(reference=reference)
