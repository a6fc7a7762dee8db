"""The released code's test vectors (``shared/paper/reference_vectors``), the part the parity
tests use, kept in ``tests/data/`` so that the tests run from a plain clone.

The vectors are the outputs of the paper's released functions on synthetic inputs (their
README, beside them, describes every array). ``python tests/reference_vectors.py
PATH/TO/reference_vectors`` rewrites the subsets below from them; the tests only read
``tests/data/released_*.npz``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"

# Per source file: the arrays kept, and how many cases of the large per-case arrays.
SUBSETS = {
    "deeplesion": {
        "all": ("recist", "features", "target"),
        "cases": ("gc_recist", "gc_image", "gc_ellipse", "gc_target", "gc_unchanged"),
        "count": 30,
    },
    "ham10000": {
        "all": ("mask", "gt120", "target120", "kmeans_features", "fit_full"),
        "cases": ("image120_bgr",),
        "count": 6,
    },
    # The HU slices are not needed: which components are kept, and their targets, depend on
    # the labels only.
    "lits": {
        "all": ("labels", "comp_slice", "comp_label", "comp_npx", "crop_xyxy", "patch_shape",
                "area_rule_drop", "fit_ok", "iou_120", "kept", "target120", "gt120"),
        "cases": (),
        "count": 0,
    },
}


def path(name: str) -> Path:
    return DATA_DIR / f"released_{name}.npz"


def load(name: str) -> dict[str, np.ndarray]:
    """The kept arrays of ``name`` (deeplesion, ham10000, lits); for ham10000 also
    ``image_jpeg`` (the first images' JPEG files, as bytes objects)."""
    with np.load(path(name)) as stored:
        arrays = {key: stored[key] for key in stored.files}
    if "jpeg_bytes" in arrays:
        data, offsets = arrays.pop("jpeg_bytes"), arrays.pop("jpeg_offsets")
        arrays["image_jpeg"] = [data[offsets[i]:offsets[i + 1]].tobytes()
                                for i in range(len(offsets) - 1)]
    return arrays


def write_subsets(source: Path) -> None:
    for name, subset in SUBSETS.items():
        with np.load(source / f"{name}.npz") as full:
            arrays = {key: full[key] for key in subset["all"]}
            arrays |= {key: full[key][: subset["count"]] for key in subset["cases"]}
            if name == "ham10000":
                count = subset["count"]
                offsets = full["image_jpeg_offsets"][: count + 1]
                arrays["jpeg_bytes"] = full["image_jpeg_bytes"][: offsets[-1]]
                arrays["jpeg_offsets"] = offsets
        DATA_DIR.mkdir(exist_ok=True)
        np.savez_compressed(path(name), **arrays)
        print(f"{path(name)}: {path(name).stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    write_subsets(Path(sys.argv[1]))
