"""The released target renderings of ``protocol: paper``: matplotlib's cost per lesion.

    .venv/bin/python benchmarks/bench_rendering.py [--count 60] [--lesions 600]

Times ``draw_released_target`` on one core for each dataset's recipe at its frame size
(HAM10000: the 600×450 image; LiTS: crops of 40–140 px; DeepLesion: the 120×120 patch, with
its outline and JPEG), then the workflow's ellipse-target stage on all cores and on one for a
synthetic DeepLesion store of ``--lesions`` lesions, and projects the stage's time for the
three full releases on this machine. ``protocol: corrected`` draws exact rasters instead,
about 0.1 ms per lesion.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from harness import Result, base_parser, core_scaling, finish, usable_cores, wall

RELEASE_LESIONS = {"ham10000": 10_012, "lits": 16_462, "deeplesion": 32_735}


def random_cases(recipe: str, count: int, rng: np.random.Generator) -> list[tuple]:
    """(ellipse, frame) pairs of the sizes each recipe meets."""
    cases = []
    for _ in range(count):
        if recipe == "ham10000":
            frame = (450, 600)
        elif recipe == "lits":
            side = int(rng.integers(40, 141))
            frame = (side, side)
        else:
            frame = (120, 120)
        rows, cols = frame
        ellipse = (cols / 2 + rng.normal(0, cols / 20), rows / 2 + rng.normal(0, rows / 20),
                   rng.uniform(0.2, 0.6) * cols, rng.uniform(0.2, 0.6) * rows,
                   rng.uniform(-90, 270))
        cases.append((ellipse, frame))
    return cases


def deeplesion_store(path: Path, lesions: int, rng: np.random.Generator) -> None:
    from weaklesion.datasets.base import Lesion, WeakLabel
    from weaklesion.datasets.patch_store import PatchWriter, write_attrs

    with h5py.File(path, "w") as h5:
        write_attrs(h5, fmt="deeplesion", dataset="bench", settings={"protocol": "paper"},
                    target_recipe="deeplesion")
        writer = PatchWriter(h5, has_masks=False, has_recist=True)
        image = np.zeros((120, 120, 3), np.uint8)
        for i, (ellipse, frame) in enumerate(random_cases("deeplesion", lesions, rng)):
            params = np.asarray(ellipse, np.float32)
            writer.append(Lesion(f"l{i}", f"p{i}", "bench", image,
                                 recist=np.zeros((4, 2), np.float32)),
                          WeakLabel(params, params, frame, float("nan")))
        writer.close()


def main(argv: list[str] | None = None) -> Result:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60, help="drawings timed per recipe")
    parser.add_argument("--lesions", type=int, default=600,
                        help="lesions of the synthetic store the stage is timed on")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    from weaklesion.ellipses.drawing import RELEASED_RECIPES, draw_released_target
    from weaklesion.weak_labels.targets import write_ellipse_targets

    rng = np.random.default_rng(0)
    workers = usable_cores()
    per_lesion = {}
    for recipe in RELEASED_RECIPES:
        cases = random_cases(recipe, args.count, rng)
        draw_released_target(recipe, *cases[0])  # the first figure of a frame size is built
        seconds, _ = wall(lambda cases=cases, recipe=recipe: [
            draw_released_target(recipe, ellipse, frame) for ellipse, frame in cases])
        per_lesion[recipe] = seconds / len(cases)

    with tempfile.TemporaryDirectory(prefix="bench-rendering-") as scratch:
        folder = Path(scratch)
        deeplesion_store(folder / "data.h5", args.lesions, rng)
        stage = {}
        for count in sorted({1, workers}):
            stage[count], _ = wall(lambda count=count: write_ellipse_targets(
                folder / "data.h5", folder / f"e{count}.parquet", folder / f"t{count}.h5",
                workers=count))
    speedup = stage[1] / stage[workers]
    table = [{"recipe": recipe, "frame": {"ham10000": "450×600", "lits": "40–140 px crops",
                                          "deeplesion": "120×120, outline, JPEG"}[recipe],
              "ms per lesion, one core": f"{1000 * seconds:.1f}",
              # The one-core rate, spread over the cores as the stage measured it spreads.
              "full release, stage on this machine (min)":
                  f"{RELEASE_LESIONS[recipe] * seconds / speedup / 60:.1f}"}
             for recipe, seconds in per_lesion.items()]
    scaling = core_scaling(speedup, workers, "the main process reads data.h5 and writes "
                           "targets.h5 between blocks")
    result = Result(
        name="rendering",
        title="Released target renderings (protocol paper)",
        inputs=(f"{args.count} drawings per recipe at its datasets' frame sizes; the ellipse-"
                f"target stage on a synthetic DeepLesion store of {args.lesions:,} lesions"),
        table=table,
        targets=[scaling],
        reported=[(f"{recipe} drawing, one core", f"{1000 * s:.1f} ms per lesion")
                  for recipe, s in per_lesion.items()],
        numbers={"ms_per_lesion": {r: 1000 * s for r, s in per_lesion.items()},
                 "stage_seconds": stage, "workers": workers, "speedup": speedup},
    )
    result.notes.append("the released code drew its targets the same way, once per lesion, "
                        "before training; the stage is cached like every other")
    return finish(result, argv, started, args.json)


if __name__ == "__main__":
    main()
