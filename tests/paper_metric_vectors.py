"""The released code's own per-lesion metrics, kept in ``tests/data`` for the parity tests.

``tests/data/paper_metric_vectors.npz`` holds a copy of part of ``metrics.npz`` from the
project's reference vectors (``shared/paper/reference_vectors/``, whose README describes how
it was made): 300 GT/prediction pairs of 120×120 uint8 0/1 masks, the metrics that the paper's
released code (esizikova/weaklesionmtl, ``util.py``'s ``metrics``) computes for them, and the
Canny edge maps its perimeter error counts, made by scikit-image 0.18.1. Masks and edge maps
are stored bit-packed to keep the file small; :func:`load` unpacks them.

Written once, from a checkout that has the shared folder, by

    .venv/bin/python tests/paper_metric_vectors.py shared/paper/reference_vectors/metrics.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "paper_metric_vectors.npz"

MASKS = ("gt", "pred", "gt_canny", "pred_canny")  # (N, H, W), stored bit-packed
PER_LESION = ("iou", "dice", "vs", "center_error", "perimeter_error", "hausdorff",
              "pred_empty", "gt_edge_px", "pred_edge_px", "kind")
SET_LEVEL = ("empty_fill_center_error", "empty_fill_hausdorff")


def load(path: Path = DATA) -> dict[str, np.ndarray]:
    """The vectors with masks as uint8 0/1 and edge maps as bool, as in the original file."""
    with np.load(path) as stored:
        shape = tuple(stored["mask_shape"])
        vectors = {name: stored[name] for name in (*PER_LESION, *SET_LEVEL)}
        for name in MASKS:
            bits = np.unpackbits(stored[name], count=int(np.prod(shape)))
            vectors[name] = bits.reshape(shape).astype(bool if name.endswith("canny") else np.uint8)
    return vectors


def write(source: Path, target: Path = DATA) -> None:
    with np.load(source) as original:
        arrays = {name: original[name] for name in (*PER_LESION, *SET_LEVEL)}
        arrays["mask_shape"] = np.array(original["gt"].shape)
        for name in MASKS:
            arrays[name] = np.packbits(original[name].astype(bool))
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target, **arrays)


if __name__ == "__main__":
    write(Path(sys.argv[1]))
