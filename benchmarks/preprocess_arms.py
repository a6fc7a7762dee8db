"""The three ways from archives to training inputs that bench_preprocess compares.

- ``ours``: the workflow's own stages, called as its rule scripts call them: verify the
  archives' MD5s, list the sources and preprocess into ``data.h5`` on all workers (both
  reading the archives in place, as the workflow does; ``--stages unpack …`` reads an
  unpacked copy instead, as ``unpack: true`` does), rasterise the ellipse targets, cluster
  the ellipses;
- ``reference``: the reference code's approach (:mod:`reference_preprocess`), one process;
- ``decode``: only read and decode every JPEG and PNG once, from the archives, on the same
  number of worker processes.

Each arm runs in a fresh interpreter (``python benchmarks/preprocess_arms.py ARM ...``), as a
workflow rule does, imports what its stages need before the clock starts, and prints its
timings as one JSON line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import timed  # noqa: E402

# The corrected protocol's stages, which these benchmarks have measured from the start; under
# paper the targets are drawn with matplotlib instead (its cost: benchmarks/bench_rendering.py).
SETTINGS = {"format": "ham10000", "protocol": "corrected", "on_bad_image": "fail"}
SCRIPT = str(Path(__file__).resolve())  # run as its own process by the benchmarks
OUR_STAGES = ("verify", "locate", "preprocess", "ellipses", "clusters")
STAGE_CHOICES = ("verify", "unpack", "locate", "preprocess", "ellipses", "clusters")
# What each stage's rule script imports; nothing else is loaded, so that a stage's memory is
# what its rule's process needs.
STAGE_MODULES = {
    "verify": ("weaklesion.raw.verify",),
    "unpack": ("weaklesion.raw.unpack",),
    "locate": ("weaklesion.datasets.preprocess",),
    "preprocess": ("weaklesion.datasets.preprocess",),
    "ellipses": ("weaklesion.weak_labels.targets",),
    "clusters": ("pandas", "weaklesion.weak_labels.clusters"),
}


def ours(archives: Path, work: Path, workers: int, k: int,
         stages: tuple[str, ...] = OUR_STAGES) -> dict:
    """Wall seconds of each of ``stages``, run in order, and the lesions kept. Each stage
    reads what the previous ones wrote under ``work``, named as in the workflow."""
    for stage in stages:
        for module in STAGE_MODULES[stage]:
            importlib.import_module(module)
    from weaklesion.raw.manifest import read_manifest

    entries = read_manifest(archives / "manifest.tsv")
    paths = [archives / e.name for e in entries]
    unpacked = work / "unpacked"
    source = unpacked if "unpack" in stages else [str(p) for p in paths]
    steps = {
        "verify": lambda: _verify(entries, archives),
        "unpack": lambda: _unpack(paths, unpacked),
        "locate": lambda: _locate(source, work),
        "preprocess": lambda: _preprocess(source, work, workers),
        "ellipses": lambda: _ellipses(work),
        "clusters": lambda: _clusters(work, k),
    }
    seconds: dict[str, float] = {}
    kept = None
    for stage in stages:
        with timed(seconds, stage):
            value = steps[stage]()
        if stage == "preprocess":
            kept = value["kept"]
    return {"seconds": seconds, "lesions": kept}


def _verify(entries, archives: Path):
    from weaklesion.raw.verify import verify_all

    return verify_all(entries, archives)


def _unpack(paths: list[Path], unpacked: Path):
    from weaklesion.raw.unpack import unpack

    return unpack(paths, unpacked, progress=False)


def _locate(source, work: Path):
    from weaklesion.datasets.preprocess import source_listing
    from weaklesion.utilities.atomic import atomic_path

    listing = source_listing("ham10000", source, SETTINGS)
    with atomic_path(work / "source_files.tsv") as tmp:
        listing.to_csv(tmp, sep="\t", index=False)


def _preprocess(source, work: Path, workers: int) -> dict[str, int]:
    from weaklesion.datasets.preprocess import preprocess

    return preprocess(fmt="ham10000", root=source, settings=SETTINGS, dataset="bench",
                      data_h5=work / "data.h5", excluded_csv=work / "excluded.csv",
                      workers=workers)


def _ellipses(work: Path):
    from weaklesion.weak_labels.targets import write_ellipse_targets

    return write_ellipse_targets(work / "data.h5", work / "ellipses.parquet",
                                 work / "targets.h5")


def _clusters(work: Path, k: int):
    import pandas as pd

    from weaklesion.utilities.atomic import atomic_path
    from weaklesion.weak_labels.clusters import cluster_ellipses

    labels, centroids = cluster_ellipses(pd.read_parquet(work / "ellipses.parquet"), k)
    with atomic_path(work / "clusters.parquet") as tmp:
        labels.to_parquet(tmp, index=False)
    with atomic_path(work / "centroids.csv") as tmp:
        centroids.to_csv(tmp, index=False)


def reference(archives: Path, work: Path, k: int) -> dict:
    import reference_preprocess

    from weaklesion.raw.manifest import read_manifest

    seconds: dict[str, float] = {}
    zips = [archives / e.name for e in read_manifest(archives / "manifest.tsv")
            if e.name.endswith(".zip")]
    with timed(seconds, "unpack"):
        reference_preprocess.unpack(zips, work / "unpacked")
    with timed(seconds, "per_lesion"):
        pairs = reference_preprocess.image_mask_pairs(work / "unpacked")
        params = reference_preprocess.preprocess_lesions(pairs, work / "out")
    with timed(seconds, "clusters"):
        reference_preprocess.cluster(params, k, work / "out")
    return {"seconds": seconds, "lesions": len(params)}


def _decode(file) -> int:
    import cv2
    import numpy as np

    from weaklesion.raw.sources import read_bytes

    flag = cv2.IMREAD_COLOR if file.member.endswith(".jpg") else cv2.IMREAD_UNCHANGED
    return cv2.imdecode(np.frombuffer(read_bytes(file), np.uint8), flag).size


def _single_threaded_opencv() -> None:
    import cv2

    cv2.setNumThreads(1)  # as the preprocessing workers do: one process per core


def decode(archives: Path, workers: int) -> dict:
    """Read and decode every image and mask in the archives once, on ``workers`` processes."""
    from weaklesion.raw.manifest import read_manifest
    from weaklesion.raw.sources import SourceTree
    from weaklesion.utilities.worker_pool import WorkerPool

    importlib.import_module("cv2")  # loaded before the clock and the fork, as in `ours`

    paths = [archives / e.name for e in read_manifest(archives / "manifest.tsv")]
    files = SourceTree.from_archives(paths).matching(
        lambda p: p.endswith((".jpg", ".png")) and "__MACOSX" not in p)
    chunksize = max(1, min(32, len(files) // (workers * 8)))
    start = time.perf_counter()
    with WorkerPool(workers, _single_threaded_opencv) as pool:
        pixels = sum(pool.imap(_decode, files, chunksize))
    return {"seconds": {"decode": time.perf_counter() - start}, "files": len(files),
            "pixels": pixels}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arm", choices=("ours", "reference", "decode"))
    parser.add_argument("--archives", type=Path, help="folder with the archives and manifest")
    parser.add_argument("--work", type=Path, help="folder for the arm's outputs")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--k", type=int, default=45)
    parser.add_argument("--stages", nargs="+", choices=STAGE_CHOICES, default=OUR_STAGES,
                        help="ours: run only these stages (their inputs must exist)")
    args = parser.parse_args(argv)
    if args.arm == "ours":
        timings = ours(args.archives, args.work, args.workers, args.k, tuple(args.stages))
    elif args.arm == "reference":
        timings = reference(args.archives, args.work, args.k)
    else:
        timings = decode(args.archives, args.workers)
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
