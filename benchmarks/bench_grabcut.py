"""GrabCut targets: time per lesion of the workflow's stage on all cores, and on one core.

    .venv/bin/python benchmarks/bench_grabcut.py [--lesions 2000] [--serial 300]

Starts from the data.h5 and targets.h5 that the workflow's stages make from the synthetic
HAM10000-layout dataset of bench_preprocess (made once and cached), times
``write_grabcut_targets`` (read, GrabCut every ellipse on all cores, write grabcut.h5), and
GrabCut of the first ``--serial`` lesions in this one process for the single-core rate.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from harness import (
    Result,
    base_parser,
    core_scaling,
    demo_archives,
    finish,
    median,
    run_python,
    usable_cores,
    wall,
)
from preprocess_arms import SCRIPT as ARMS


def prepared_stores(cache: Path, lesions: int, width: int, height: int, workers: int) -> Path:
    """data.h5 and targets.h5 of the synthetic dataset, made by the workflow's stages once."""
    archives = demo_archives(cache, lesions, width, height)
    folder = Path(cache) / f"stores-{lesions}-{width}x{height}"
    if not (folder / "targets.h5").is_file():
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            run_python([ARMS, "ours", "--archives", str(archives), "--work", scratch,
                        "--workers", str(workers),
                        "--stages", "preprocess", "ellipses"])
            folder.mkdir(parents=True, exist_ok=True)
            for name in ("data.h5", "targets.h5"):
                Path(scratch, name).replace(folder / name)
    return folder


def main(argv: list[str] | None = None) -> Result:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--lesions", type=int, default=2000)
    parser.add_argument("--width", type=int, default=600)
    parser.add_argument("--height", type=int, default=450)
    parser.add_argument("--serial", type=int, default=300,
                        help="lesions to time on one core (the first ones)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    from weaklesion.datasets.patch_store import read_arrays
    from weaklesion.weak_labels.grabcut import GRABCUT_ITERATIONS
    from weaklesion.weak_labels.targets import grabcut_masks, write_grabcut_targets

    workers = usable_cores()
    stores = prepared_stores(args.cache, args.lesions, args.width, args.height, workers)
    images = read_arrays(stores / "data.h5", ["image"])["image"]
    ellipses = read_arrays(stores / "targets.h5", ["ellipse"])["ellipse"]
    lesions = len(images)
    parallel = []
    with tempfile.TemporaryDirectory(prefix="bench-grabcut-") as scratch:
        for repeat in range(args.repeats):
            seconds, _ = wall(lambda r=repeat: write_grabcut_targets(
                stores / "data.h5", stores / "targets.h5", Path(scratch) / f"{r}.h5", workers))
            parallel.append(seconds)
    parallel_s = median(parallel)
    serial_n = min(args.serial, lesions)
    serial_s, _ = wall(lambda: grabcut_masks(images[:serial_n], ellipses[:serial_n], 1))

    per_lesion = 1000 * parallel_s / lesions
    one_core = 1000 * serial_s / serial_n
    speedup = one_core / per_lesion
    table = [
        {"run": f"workflow stage, {workers} worker processes", "lesions": f"{lesions:,}",
         "seconds": f"{parallel_s:.2f}", "ms per lesion": f"{per_lesion:.2f}"},
        {"run": "grabcut_masks, one process", "lesions": f"{serial_n:,}",
         "seconds": f"{serial_s:.2f}", "ms per lesion": f"{one_core:.2f}"},
    ]
    scaling = core_scaling(speedup, workers, "the stage also reads data.h5 and writes "
                           "grabcut.h5 in its main process")
    result = Result(
        name="grabcut",
        title="GrabCut targets",
        inputs=(f"{lesions:,} lesions of the synthetic HAM10000-layout dataset "
                f"({args.width}×{args.height} sources, 120×120 patches), "
                f"{GRABCUT_ITERATIONS} GrabCut iterations each"),
        table=table,
        targets=[scaling],
        reported=[("time per lesion, all cores (wall clock)", f"{per_lesion:.2f} ms"),
                  ("time per lesion, one core", f"{one_core:.2f} ms")],
        numbers={"parallel_seconds": parallel, "serial_seconds": serial_s,
                 "serial_lesions": serial_n, "lesions": lesions, "workers": workers,
                 "ms_per_lesion": per_lesion, "ms_per_lesion_one_core": one_core},
    )
    return finish(result, argv, started, args.json)


if __name__ == "__main__":
    main()
