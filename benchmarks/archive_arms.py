"""The two ways bench_archives compares from a dataset's verified archives to ``data.h5``.

- ``in-place``: the workflow's default, as its rule scripts do it: list the sources from
  the archives' directories, then preprocess reading only the members the items need;
- ``unpack``: what the workflow did before (and does with ``unpack: true``): unpack every
  archive into ``work/unpacked``, then list and preprocess that copy.

Each arm runs in a fresh interpreter (``python benchmarks/archive_arms.py ARM ...``), imports
what it needs before the clock starts and prints its timings as one JSON line; the parent
samples the disk used under ``--work`` meanwhile.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import timed  # noqa: E402

SCRIPT = str(Path(__file__).resolve())
ARMS = ("in-place", "unpack")
SETTINGS = {"protocol": "paper", "on_bad_image": "fail"}


def run_arm(arm: str, fmt: str, archives: list[Path], work: Path, workers: int) -> dict:
    from weaklesion.datasets.preprocess import preprocess, source_listing
    from weaklesion.raw.unpack import unpack
    from weaklesion.utilities.atomic import atomic_path

    seconds: dict[str, float] = {}
    source: list[str] | Path = [str(p) for p in archives]
    if arm == "unpack":
        with timed(seconds, "unpack"):
            source = unpack(archives, work / "unpacked", progress=False)
    with timed(seconds, "locate"):
        listing = source_listing(fmt, source, SETTINGS)
        with atomic_path(work / "source_files.tsv") as tmp:
            listing.to_csv(tmp, sep="\t", index=False)
    with timed(seconds, "preprocess"):
        counts = preprocess(fmt=fmt, root=source, settings=SETTINGS, dataset="bench",
                            data_h5=work / "data.h5", excluded_csv=work / "excluded.csv",
                            workers=workers)
    return {"seconds": seconds, "lesions": counts["kept"], "items": len(listing)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arm", choices=ARMS)
    parser.add_argument("--format", required=True, choices=("ham10000", "deeplesion"))
    parser.add_argument("--archives", type=Path, nargs="+", required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(run_arm(args.arm, args.format, args.archives, args.work, args.workers)))


if __name__ == "__main__":
    main()
