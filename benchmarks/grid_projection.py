"""The paper grid's wall time on N GPUs, projected from measured training rates.

The grid is 3 datasets × 3 models × 3 seeds = 27 runs. A run's time is its epochs × (training
set / training images/s + the rest / evaluation images/s), at the rates ``gpu_check.py``
measures. On N GPU slots Snakemake hands each free slot the ready run of highest priority,
which the workflow sets to the run's expected length (``weaklesion.scheduling``). The
projection takes the runs in that order, in the DAG's order (dataset, model, seed: what equal
priorities may give) and longest first by the measured times (the bound a good order
reaches), and compares each makespan with the ideal, total ÷ N.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

from weaklesion.config import RELEASE_LESIONS
from weaklesion.scheduling import training_priority

# Lesions in the paper's splits (train, val + test), for the projection.
PAPER_DATASETS = {"ham10000": (7008, 3004), "lits": (11522, 4940), "deeplesion": (22919, 9816)}
MODELS = ("A1", "A1+L", "ACoseg")
SEEDS = (0, 1, 2)


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
    return {"gpus": gpus, "jobs_per_gpu": jobs_per_gpu, "ideal_h": ideal,
            "workflow_order_h": prioritised,
            "dag_order_h": makespan(hours(runs), slots),
            "longest_first_h": makespan(sorted(hours(runs), reverse=True), slots),
            "efficiency": ideal / prioritised}
