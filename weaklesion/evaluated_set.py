"""Which lesions a trained run is scored on, and against which masks.

The test split against the ground truth (DeepLesion: its GrabCut targets), or, under
``protocol: paper``, exactly what the released code scored (PROTOCOL item 14). Imported by the
workflow when it plans jobs, so it stays free of heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass

RELEASED_TEST_BATCH = 8
"""Batch size of the released test loaders, which scored whole batches only."""


@dataclass(frozen=True)
class EvaluationPlan:
    """What a run is scored on: the lesions of ``split``, against the ``reference`` masks
    (``mask``: ground truth in data.h5; ``grabcut``: grabcut.h5; ``ellipse``: the training
    targets in targets.h5); with ``whole_batches_of``, only the lesions in whole batches of
    that size, in the split's order."""

    split: str = "test"
    reference: str = "mask"
    whole_batches_of: int | None = None

    def scored(self, count: int) -> slice:
        """The rows of a split of ``count`` lesions that are scored. A split smaller than one
        batch (only in toy datasets) is scored whole rather than not at all."""
        if self.whole_batches_of is None or count < self.whole_batches_of:
            return slice(0, count)
        return slice(0, count - count % self.whole_batches_of)


def evaluation_plan(fmt: str, protocol: str, model: str) -> EvaluationPlan:
    """The evaluated set of one run.

    ``corrected``: the whole test split against the ground truth, or DeepLesion's GrabCut
    targets, which stand in for the masks it does not have. ``paper``, as released (item 14):
    the test loaders scored whole batches of 8 only — on LiTS for every model (1,624 of
    1,630 lesions), on HAM10000 and DeepLesion for ACoseg — and DeepLesion's A1+L was scored
    on the *training* loader against its training ellipses (a defect kept so that the
    published row is reproduced; ``corrected`` scores it like the other models).
    """
    reference = "grabcut" if fmt == "deeplesion" else "mask"
    if protocol != "paper":
        return EvaluationPlan(reference=reference)
    if fmt == "deeplesion" and model == "A1+L":
        return EvaluationPlan(split="train", reference="ellipse")
    if fmt == "lits" or model == "ACoseg":
        return EvaluationPlan(reference=reference, whole_batches_of=RELEASED_TEST_BATCH)
    return EvaluationPlan(reference=reference)
