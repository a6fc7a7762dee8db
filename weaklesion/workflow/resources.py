"""What a scheduler is told about a job before it runs: its memory, length and priority,
sized from the dataset's expected number of lesions so that jobs can be packed.

Snakemake hands a free GPU to the ready job of highest ``priority``; among jobs of equal
priority its choice is arbitrary. On several GPUs the longest runs of the paper grid
(DeepLesion's ACoseg) could then start last and finish alone while the other GPUs idle.
So each training job's priority is its expected length: a GPU that frees up takes the
longest training that is ready (projected on 8 GPUs: 96-98 % of the ideal ÷ 8 instead of
64-66 %; benchmarks/grid_projection.py).
"""

from __future__ import annotations

# Training images per second at the paper's settings on a recent GPU, with margin:
# benchmarks/gpu_check.sh measured 165-180 for A1 and A1+L and 38 for ACoseg (eager, H200).
TRAIN_IMAGES_PER_S = {"A1": 100, "A1+L": 100, "ACoseg": 25}
TRAINING_SHARE = 0.9  # of a dataset's lesions: training and validation, every epoch
MIN_RUNTIME_MINUTES = 30


def epoch_seconds(lesions: int, model: str) -> float:
    """Expected seconds of one epoch (training and validation) of ``model`` on ``lesions``."""
    return TRAINING_SHARE * lesions / TRAIN_IMAGES_PER_S[model]


def training_priority(lesions: int, model: str) -> int:
    """The job's priority: its expected seconds per epoch (every run has the same cap of
    epochs; at demo scale ACoseg, the slowest per epoch, also ran the most)."""
    return round(epoch_seconds(lesions, model))


def training_runtime_minutes(lesions: int, model: str, epochs: int) -> int:
    """Time limit for a cluster: ``epochs`` epochs with half as much again as margin."""
    return max(MIN_RUNTIME_MINUTES, int(1.5 * epochs * epoch_seconds(lesions, model) / 60))


MB_PER_LESION = 0.06  # a 120x120 RGB patch and its masks, held in memory
PREPROCESS_WORKERS = 8  # the preprocess rule's threads


def in_memory_mb(lesions: int) -> int:
    """A job that holds the dataset's patches in memory (targets, training, evaluation)."""
    return 4000 + int(lesions * MB_PER_LESION)


def preprocess_mem_mb(worker_memory_mb: int) -> int:
    return 2000 + PREPROCESS_WORKERS * worker_memory_mb


def preprocess_runtime_minutes(lesions: int) -> int:
    return 15 + lesions // 1000


def grabcut_runtime_minutes(lesions: int) -> int:
    return 10 + lesions // 2000
