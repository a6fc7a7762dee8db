"""Early stopping at demo scale: how many epochs each run of the demo takes when it may stop.

    .venv/bin/python benchmarks/bench_early_stopping.py [--seeds 0 1]

`make run` caps the demo at 6 epochs: with patience 5 every run trains all 6, stopped or
not, so its epochs say nothing about early stopping. This runs the demo's paper-protocol
trainings (its dataset, models and seeds, resnet18, compact geometry) in a scratch copy of
the workflow with the protocol's own schedule instead: at most 50 epochs, patience 5 on the
validation (mask) loss. The mean epochs per model go to
``benchmarks/results/demo_epochs.json``, at which ``gpu_grid.py`` and ``grid_projection.py``
project the paper grid's wall time. CPU only; 48 minutes on 2 cores the first time, cached
after.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import yaml
from harness import REPO, Result, base_parser, finish
from snakemake_runs import completed_run

from weaklesion.training.schedules import resolve_schedule

DEMO_CONFIG = REPO / "config" / "config.yaml"
EPOCHS_RECORD = REPO / "benchmarks" / "results" / "demo_epochs.json"


def paper_schedule_config(seeds: list[int]) -> dict:
    """The demo's config with the paper protocol only, its schedule's own epoch cap and no
    ablations."""
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["protocols"] = ["paper"]
    config["seeds"] = seeds
    config["train"].pop("epochs", None)
    for dataset in config["datasets"].values():
        dataset.pop("ablations", None)
    return config


def history_targets(config: dict) -> list[str]:
    return [f"results/{dataset}/paper/{model}/seed{seed}/history.csv"
            for dataset in config["datasets"] for model in config["models"]
            for seed in config["seeds"]]


def run_epochs(workdir: Path, targets: list[str], config: dict) -> list[dict]:
    """Per run: epochs trained and the best epoch by the schedule's own monitor."""
    runs = []
    for target in targets:
        history = pd.read_csv(workdir / target)
        _, dataset, _, model, seed, _ = Path(target).parts
        schedule = resolve_schedule(model, config["datasets"][dataset]["format"],
                                    config["train"])
        column = history[schedule.monitor]
        best = column.idxmin() if schedule.mode == "min" else column.idxmax()
        runs.append({"model": model, "seed": seed.removeprefix("seed"),
                     "epochs": int(history["epoch"].max()), "cap": schedule.epochs,
                     "best epoch": int(history.loc[best, "epoch"]),
                     "monitor": f"{schedule.monitor}, patience {schedule.patience}"})
    return runs


def mean_epochs(runs: list[dict]) -> dict[str, float]:
    frame = pd.DataFrame(runs)
    return {model: float(epochs) for model, epochs in
            frame.groupby("model")["epochs"].mean().sort_index().items()}


def main(argv: list[str] | None = None) -> Result:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="default: the demo's seeds (config/config.yaml)")
    parser.add_argument("--epochs-record", type=Path, default=EPOCHS_RECORD,
                        help="the mean epochs per model are written here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = paper_schedule_config(
        args.seeds or yaml.safe_load(DEMO_CONFIG.read_text())["seeds"])
    targets = history_targets(config)
    workdir, seconds, cached = completed_run(args.cache, "early-stopping", config, targets)
    runs = run_epochs(workdir, targets, config)
    means = mean_epochs(runs)
    args.epochs_record.write_text(json.dumps(means, indent=2, sort_keys=True) + "\n")
    stopped = sum(run["epochs"] < run["cap"] for run in runs)
    built = f"{seconds / 60:.0f} min" + (", cached from an earlier run" if cached else "")
    result = Result(
        name="early_stopping",
        title="Early stopping at demo scale",
        inputs=(f"the demo's paper-protocol trainings ({len(runs)} runs: "
                f"{', '.join(config['models'])} × seeds "
                f"{', '.join(map(str, config['seeds']))}; resnet18, compact geometry) with the "
                f"protocol's schedule (table: its cap and monitor), in a scratch copy of the "
                f"workflow ({built})"),
        table=runs,
        reported=[(f"mean epochs, {model}", f"{epochs:g}") for model, epochs in means.items()]
        + [("runs stopped before the cap", f"{stopped} of {len(runs)}")],
        notes=[f"the means are in {args.epochs_record.name}, the epochs "
               "`benchmarks/gpu_grid.py` and `benchmarks/grid_projection.py` project the paper "
               "grid at beside 50; the demo's synthetic lesions are fewer and simpler than "
               "the paper's, so the paper grid's runs may stop sooner or later"],
        numbers={"runs": runs, "mean_epochs": means, "build_seconds": seconds},
    )
    return finish(result, argv, started, args.json)


if __name__ == "__main__":
    main()
