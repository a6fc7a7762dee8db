"""No-op rerun: ``snakemake -n`` on a completed demo must be quick and schedule nothing.

    .venv/bin/python benchmarks/bench_noop.py [--images 30] [--repeats 5]

Copies the workflow into a scratch folder with a small demo config (all three models, one
seed, resnet18, compact geometry, one epoch), runs it to the end (not timed), then times
dry runs of the completed tree against dry runs of a one-rule workflow with nothing to do:
Snakemake's own start-up, the floor any workflow pays.
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path

from harness import Result, Target, base_parser, finish, median
from snakemake_runs import bare_workflow, completed_run, planned_jobs, snakemake

SMALL_DEMO = {
    "datasets": {"demo": {"format": "demo", "k": 3,
                          "demo": {"n_images": 30, "width": 160, "height": 120}}},
    "models": ["A1", "A1+L", "ACoseg"],
    "seeds": [0],
    "train": {"encoder": "resnet18", "encoder_weights": None, "geometry": "compact",
              "channel_order": "corrected", "epochs": 1},
}


def small_demo_config(images: int) -> dict:
    config = copy.deepcopy(SMALL_DEMO)
    config["datasets"]["demo"]["demo"]["n_images"] = images
    return config


def main(argv: list[str] | None = None) -> Result:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--targets", nargs="*", default=[],
                        help="run and time only these targets (default: the whole workflow)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    workdir, build, cached = completed_run(args.cache, "noop",
                                           small_demo_config(args.images), args.targets)
    with tempfile.TemporaryDirectory(prefix="bench-noop-") as scratch:
        bare = bare_workflow(Path(scratch) / "bare")
        ours, baseline, jobs = [], [], []
        for _ in range(args.repeats):
            seconds, output = snakemake(workdir, "--cores", "all", "-n", *args.targets)
            ours.append(seconds)
            jobs.append(sum(planned_jobs(output).values()))
            baseline.append(snakemake(bare, "--cores", "all", "-n")[0])
    noop, floor = median(ours), median(baseline)
    built = f"that took {build:.0f} s" + (", cached from an earlier run of the same workflow "
                                           "files" if cached else "")
    quick = Target("`snakemake -n` < 5 s on the completed demo", noop, 5, False, " s")
    quick.why = (f"Snakemake's own start-up takes {floor:.2f} s of it; the rest is parsing the "
                 "workflow, importing its helpers and checking every output's records")
    nothing = Target("schedules nothing", max(jobs), 0, False, " jobs")
    result = Result(
        name="noop",
        title="No-op rerun",
        inputs=(f"the small demo ({args.images} images, 3 models, 1 seed, 1 epoch) run to the "
                f"end in a scratch copy of the workflow ({built}); wall clock, median of "
                f"{args.repeats} dry runs"),
        table=[
            {"dry run": "completed demo", "seconds": f"{noop:.2f}",
             "jobs scheduled": max(jobs)},
            {"dry run": "one-rule workflow with nothing to do (Snakemake start-up)",
             "seconds": f"{floor:.2f}", "jobs scheduled": 0},
        ],
        targets=[quick, nothing],
        notes=[f"ours is {noop / floor:.1f}× Snakemake's bare start-up"],
        numbers={"noop_seconds": ours, "bare_seconds": baseline, "jobs": jobs,
                 "build_seconds": build},
    )
    return finish(result, argv, started, args.json)


if __name__ == "__main__":
    main()
