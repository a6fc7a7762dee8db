"""DAG build for the paper's full grid: ``snakemake -n --configfile config/paper.yaml``.

    .venv/bin/python benchmarks/bench_dag.py [--repeats 3]

Dry-runs the paper's configuration (3 datasets × 2 protocols × 3 models × 3 seeds, nothing
downloaded yet, so every job from the downloads on is planned) in a scratch copy of the
workflow, as its README says to run it, against a one-rule workflow with nothing to do
(Snakemake's start-up).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from harness import Result, Target, base_parser, finish, median
from snakemake_runs import bare_workflow, planned_jobs, snakemake, workflow_copy


def main(argv: list[str] | None = None) -> Result:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-dag-") as scratch:
        workdir = workflow_copy(Path(scratch) / "wf", None)
        bare = bare_workflow(Path(scratch) / "bare")
        ours, baseline = [], []
        for _ in range(args.repeats):
            seconds, output = snakemake(workdir, "--cores", "all", "-n",
                                        "--configfile", "config/paper.yaml")
            ours.append(seconds)
            baseline.append(snakemake(bare, "--cores", "all", "-n")[0])
    stats = planned_jobs(output)
    dag, floor = median(ours), median(baseline)
    quick = Target("dry run < 10 s", dag, 10, False, " s")
    quick.why = f"Snakemake's own start-up takes {floor:.2f} s of it"
    trained = stats.get("train_model", 0)
    result = Result(
        name="dag",
        title="DAG build for the paper grid",
        inputs=(f"config/paper.yaml (3 datasets × 2 protocols × 3 models × 3 seeds) in a "
                f"scratch copy of the "
                f"workflow with no data: {sum(stats.values()):,} jobs planned, {trained} of "
                f"them training runs; wall clock, median of {args.repeats} dry runs"),
        table=[
            {"dry run": "paper grid", "seconds": f"{dag:.2f}",
             "jobs planned": f"{sum(stats.values()):,}"},
            {"dry run": "one-rule workflow with nothing to do (Snakemake start-up)",
             "seconds": f"{floor:.2f}", "jobs planned": 0},
        ],
        targets=[quick],
        notes=[f"ours is {dag / floor:.1f}× Snakemake's bare start-up"],
        numbers={"dag_seconds": ours, "bare_seconds": baseline, "jobs": stats},
    )
    return finish(result, argv, started, args.json)


if __name__ == "__main__":
    main()
