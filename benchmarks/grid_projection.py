"""The paper grid's wall time on N GPUs, projected from measured training rates.

The grid is 3 datasets × 3 models × 3 seeds = 27 runs. A run's time is its epochs × (training
set / training images/s + the rest / evaluation images/s), at the rates ``gpu_check.py``
measures. On N GPU slots Snakemake hands each free slot the ready run of highest priority,
which the workflow sets to the run's expected length (``weaklesion.workflow.resources``). The
projection takes the runs in that order, in the DAG's order (dataset, model, seed: what equal
priorities may give) and longest first by the measured times (what a good order reaches),
and compares each makespan with the ideal, total ÷ N, and with the bound no order beats,
the larger of the ideal and the longest run.

    .venv/bin/python benchmarks/grid_projection.py

prints that projection as a markdown table for the committed H200 records of
``gpu_check.sh`` (eager steps, and the CUDA-graph step), at 50 epochs and at the epochs early
stopping took at demo scale (``bench_early_stopping.py``'s record).
"""

from __future__ import annotations

import argparse
import heapq
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from weaklesion.datasets import adapter_class
from weaklesion.workflow.resources import training_priority

RELEASE_LESIONS = {fmt: adapter_class(fmt).release_lesions
                   for fmt in ("ham10000", "lits", "deeplesion")}

# Lesions in the paper's splits (train, val + test), for the projection.
PAPER_DATASETS = {"ham10000": (7008, 3004), "lits": (11522, 4940), "deeplesion": (22919, 9816)}
MODELS = ("A1", "A1+L", "ACoseg")
SEEDS = (0, 1, 2)
RESULTS = Path(__file__).resolve().parent / "results"
# The committed H200 records: (steps, file, the rows' cuda_graphs value, None when absent).
RECORDS = (("eager", "gpu_check_h200.json", None),
           ("CUDA graphs", "gpu_check_graphs_h200.json", True))


def run_hours(rates: dict[str, tuple[float, float]], epochs: float | dict[str, float]
              ) -> list[tuple[str, str, int, float]]:
    """(dataset, model, seed, hours) of every run of the grid, in the DAG's order.

    ``rates``: model → (training images/s, evaluation images/s); ``epochs``: one number, or
    per model (the epochs early stopping took)."""
    runs = []
    for dataset, (train_n, eval_n) in PAPER_DATASETS.items():
        for model in MODELS:
            train_rate, eval_rate = rates[model]
            run_epochs = epochs[model] if isinstance(epochs, dict) else epochs
            hours = run_epochs * (train_n / train_rate + eval_n / eval_rate) / 3600
            runs += [(dataset, model, seed, hours) for seed in SEEDS]
    return runs


def makespan(durations: Iterable[float], slots: int) -> float:
    """Finish time of the last job when each job, in the given order, starts on the slot that
    frees first."""
    free_at = [0.0] * slots
    heapq.heapify(free_at)
    for duration in durations:
        heapq.heappush(free_at, heapq.heappop(free_at) + duration)
    return max(free_at)


def workflow_order(runs: Sequence[tuple[str, str, int, float]]
                   ) -> list[tuple[str, str, int, float]]:
    """The runs as the workflow's priorities order them (ties in the DAG's order)."""
    return sorted(runs, key=lambda run: -training_priority(RELEASE_LESIONS[run[0]], run[1]))


def projection(runs: Sequence[tuple[str, str, int, float]], gpus: int,
               jobs_per_gpu: int = 1, shared_speedup: float = 1.0) -> dict[str, float]:
    """Wall hours of the grid on ``gpus`` GPUs, ``jobs_per_gpu`` jobs sharing each; a job on
    a shared GPU runs at ``shared_speedup`` / ``jobs_per_gpu`` of its own speed (the measured
    aggregate gain of that many jobs on one GPU)."""
    slowdown = jobs_per_gpu / shared_speedup
    slots = gpus * jobs_per_gpu

    def hours(ordered):
        return [run[3] * slowdown for run in ordered]

    ideal = sum(hours(runs)) / slots
    prioritised = makespan(hours(workflow_order(runs)), slots)
    # No order beats the ideal, nor the longest run: a run is never split across GPUs.
    bound = max(ideal, max(hours(runs)))
    return {"gpus": gpus, "jobs_per_gpu": jobs_per_gpu, "ideal_h": ideal, "bound_h": bound,
            "workflow_order_h": prioritised,
            "dag_order_h": makespan(hours(runs), slots),
            "longest_first_h": makespan(sorted(hours(runs), reverse=True), slots),
            "efficiency": ideal / prioritised}


def recorded_rates(rows: Sequence[dict], geometry: str, cuda_graphs: bool | None
                   ) -> dict[str, tuple[float, float]]:
    """model → (training, evaluation images/s) from ``gpu_check`` rows. A1 and A1+L are the
    same network: A1 takes A1+L's evaluation rate (the first model measured also pays cuDNN's
    autotuning there), and its training rate too where it was not measured."""
    chosen = {row["model"]: row for row in rows if row["geometry"] == geometry
              and row.get("cuda_graphs") == cuda_graphs}
    rates = {model: (row["train_images_per_s"], row["eval_images_per_s"])
             for model, row in chosen.items()}
    a1_train = rates.get("A1", rates["A1+L"])[0]
    rates["A1"] = (a1_train, rates["A1+L"][1])
    return rates


def projection_table(records: Sequence[tuple[str, list[dict], bool | None]],
                     epochs: dict[str, float] | None, gpu_counts=(1, 2, 4, 8)) -> list[str]:
    """Markdown rows per steps × geometry × epochs: the grid's hours on each GPU count by
    priority; on the most GPUs, in the DAG's order and the bound no order beats (the ideal,
    or the longest run); and the most the priorities take over that bound on any count."""
    settings = [("50", 50.0)]
    if epochs:
        settings.append((", ".join(f"{model} {epochs[model]:g}" for model in MODELS), epochs))
    most = max(gpu_counts)
    lines = ["| steps | geometry | epochs | " + " | ".join(
        f"{gpus} GPU{'s' if gpus > 1 else ''} (h)" for gpus in gpu_counts)
        + f" | {most} GPUs, DAG order (h) | {most} GPUs, bound (h) | over the bound, worst |",
        "|---|---|---|" + "---|" * (len(gpu_counts) + 3)]
    for steps, rows, cuda_graphs in records:
        for geometry in ("paper", "compact"):
            rates = recorded_rates(rows, geometry, cuda_graphs)
            for label, run_epochs in settings:
                runs = run_hours(rates, run_epochs)
                projected = [projection(runs, gpus) for gpus in gpu_counts]
                over = max(p["workflow_order_h"] / p["bound_h"] for p in projected) - 1
                lines.append(
                    f"| {steps} | {geometry} | {label} | "
                    + " | ".join(f"{p['workflow_order_h']:.1f}" for p in projected)
                    + f" | {projected[-1]['dag_order_h']:.1f} | {projected[-1]['bound_h']:.1f}"
                    f" | {100 * over:.1f} % |")
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="folder of the gpu_check records and demo_epochs.json")
    args = parser.parse_args(argv)
    records = [(steps, json.loads((args.results / name).read_text())["rows"], cuda_graphs)
               for steps, name, cuda_graphs in RECORDS]
    epochs_file = args.results / "demo_epochs.json"
    epochs = json.loads(epochs_file.read_text()) if epochs_file.is_file() else None
    lines = projection_table(records, epochs)
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
