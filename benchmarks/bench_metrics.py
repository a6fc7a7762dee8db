"""Throughput of ``weaklesion.evaluation.metrics.lesion_metrics`` against a per-image reference
loop.

    .venv/bin/python benchmarks/bench_metrics.py [--lesions 10000] [--size 120]

Generates lesion-like GT masks (irregular ellipses of many sizes, some cut by the window edge)
and plausible predictions (shifted, grown or shrunk, ragged, 3% empty), times the workflow's
metrics (best of ``--repeats``) and the straightforward per-image references of
``tests/test_metrics.py`` (medpy-style Hausdorff with scipy), with the installed scikit-image's
``canny(mask_u8, low_threshold=1, high_threshold=1)`` as the per-image Canny, checks that every
value is identical, and prints lesions per second. (That call is the paper's Canny under
scikit-image 0.18.1; later versions round two steps differently, which moves no edge pixel of
masks like these, and the run checks that.) The process is pinned to one CPU core and
timed in CPU seconds (``time.process_time``), so other load on the machine matters less.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
from skimage.feature import canny

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from harness import Result, Target, base_parser, finish, one_core  # noqa: E402
from test_metrics import ellipse, perturbed, reference_table  # noqa: E402

from weaklesion.evaluation.metrics import METRIC_COLUMNS, lesion_metrics  # noqa: E402


def lesion_like_pairs(rng: np.random.Generator, n: int, size: int):
    """GT: unions of 1-3 ellipses, radius 3-45% of the window; predictions: perturbed GTs."""
    shape = (size, size)
    gt = np.zeros((n, *shape), dtype=bool)
    pred = np.zeros((n, *shape), dtype=bool)
    for k in range(n):
        radius = size * rng.uniform(0.03, 0.45)
        centre = size / 2 + rng.normal(0, size / 8, 2)
        while not gt[k].any():
            for _ in range(rng.integers(1, 4)):
                axes = radius * rng.uniform(0.5, 1.0, 2)
                offset = rng.normal(0, radius / 3, 2)
                gt[k] |= ellipse(shape, centre + offset, axes, rng.uniform(0, math.pi))
        if rng.random() > 0.03:
            pred[k] = perturbed(rng, gt[k])
    return gt, pred


def skimage_edge_count(mask: np.ndarray) -> int:
    """The released code's edge count, with the installed scikit-image."""
    return int(canny(mask.astype(np.uint8), low_threshold=1, high_threshold=1).sum())


def main(argv: list[str] | None = None) -> Result:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--lesions", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    gt, pred = lesion_like_pairs(np.random.default_rng(args.seed), args.lesions, args.size)
    with one_core():
        lesion_metrics(gt[:2], pred[:2])  # numba compiles (or loads) its kernels: not timed
        ours = math.inf
        for _ in range(args.repeats):
            start = time.process_time()
            table = lesion_metrics(gt, pred)
            ours = min(ours, time.process_time() - start)
        start = time.process_time()
        expected = reference_table(gt, pred, skimage_edge_count)
        reference = time.process_time() - start

    differs = (table[METRIC_COLUMNS] != expected).any(axis=1)
    if differs.any():
        raise SystemExit(f"values differ for lesions {list(differs[differs].index[:10])}")

    n = args.lesions
    rate = Target("≥ 5,000 lesions/s on one core", n / ours, 5000, True, " lesions/s")
    rate.why = ("Canny on both masks of every lesion is about half the time: the compiled "
                "kernel repeats scikit-image 0.18.1's float64 filters exactly on every pixel of "
                "each mask's box plus 7 px")
    speedup = Target("≥ 10× the per-image reference", reference / ours, 10, True, "×")
    speedup.why = rate.why
    result = Result(
        name="metrics",
        title="Metrics (all seven columns)",
        inputs=(f"{n:,} lesion-like {args.size}×{args.size} mask pairs "
                f"({int(pred.any(axis=(1, 2)).sum()):,} with a prediction), one core, CPU "
                f"seconds; ours best of {args.repeats}, the reference once"),
        table=[
            {"implementation": "weaklesion.evaluation.metrics.lesion_metrics (numba kernels)",
             "CPU seconds": f"{ours:.2f}", "lesions/s": f"{n / ours:,.0f}"},
            {"implementation": "per-image reference (skimage canny(u8, 1, 1), medpy-style "
                               "Hausdorff)",
             "CPU seconds": f"{reference:.2f}", "lesions/s": f"{n / reference:,.0f}"},
        ],
        targets=[rate, speedup],
        notes=["every value of all seven columns is identical to the reference's "
               "(checked in the run)"],
        numbers={"ours_cpu_seconds": ours, "reference_cpu_seconds": reference, "lesions": n},
    )
    return finish(result, argv, started, args.json)


if __name__ == "__main__":
    main()
