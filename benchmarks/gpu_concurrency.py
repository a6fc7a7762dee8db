"""Several trainings on one GPU: as processes (what ``gpus.jobs_per_gpu`` does), or as the seeds
of one model in one process, each on a CUDA stream of its own.

At the paper's batch sizes one training leaves a large GPU mostly idle. Processes share it by
time-slicing (kernels of different processes do not overlap without MPS); streams of one
process can overlap. Both are measured as summed training images/s against one training
alone, with the same step (``gpu_check.measure``'s, taken as ``fast`` says).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from gpu_check import bench_settings, new_model, step_label, synchronise, synthetic
from harness import child_env

from weaklesion.training.fast_paths import FastPaths, compiled
from weaklesion.training.steps import Batches, BatchSteps

GPU_GRID = Path(__file__).resolve().parent / "gpu_grid.py"


def fast_flags(fast: FastPaths) -> list[str]:
    """``fast`` as gpu_grid.py's --one-process arguments."""
    return [f"--{name.replace('_', '-')}" for name in ("cuda_graphs", "fused_pairs", "compile")
            if getattr(fast, name)]


def processes_sharing(counts: list[int], model_name: str, geometry: str, precision: str,
                      encoder: str, steps: int, warmup: int, device: torch.device,
                      fast: FastPaths, timeout_s: float) -> list[dict]:
    """Summed training images/s of k concurrent processes on one device, for each k in
    ``counts`` (the first is the baseline); stops at the first k that fails."""
    results = []
    for count in counts:
        command = [sys.executable, str(GPU_GRID), "--one-process", "--device", str(device),
                   "--encoder", encoder, "--steps", str(steps), "--warmup", str(warmup),
                   "--models", model_name, "--geometries", geometry, "--precision", precision,
                   *fast_flags(fast)]
        started = time.perf_counter()
        jobs = [subprocess.Popen(command, env=child_env(), stdout=subprocess.PIPE, text=True)
                for _ in range(count)]
        rates = []
        for job in jobs:
            try:
                out, _ = job.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                job.kill()
                job.communicate()
                continue
            if job.returncode == 0:
                rates.append(json.loads(out.strip().splitlines()[-1])["train_images_per_s"])
        if len(rates) < count:
            print(f"sharing: {count - len(rates)} of {count} processes failed", flush=True)
            break
        results.append({"how": "processes", "count": count, "model": model_name,
                        "step": step_label(model_name, fast), "images_per_s": sum(rates),
                        "per_training": rates, "seconds": time.perf_counter() - started})
        print(f"{count} process(es) on one device: {sum(rates):.1f} img/s in all", flush=True)
    return results


def seeds_in_one_process(count: int, model_name: str, geometry: str, precision: str,
                         encoder: str, steps: int, warmup: int, device: torch.device,
                         fast: FastPaths) -> dict:
    """Summed training images/s of ``count`` seeds of one model trained side by side in this
    process, each with its own model, optimiser, steps and CUDA stream (on the CPU, in turn)."""
    cuda = device.type == "cuda"
    settings = bench_settings(model_name, geometry, encoder, precision)
    torch.backends.cudnn.benchmark = True
    batches = Batches(synthetic(512, 45), settings, device)
    size = settings.schedule.batch_size
    trainings = []
    for seed in range(count):
        model = new_model(settings, device, seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.schedule.lr,
                                     capturable=fast.cuda_graphs and cuda)
        stream = torch.cuda.Stream() if cuda else None
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream())  # the batches are made there
        order = torch.randint(0, len(batches), ((warmup + steps) * size,),
                              generator=torch.Generator().manual_seed(seed)).to(device)
        network = compiled(model) if fast.compile else model
        trainings.append((BatchSteps(model, network, optimizer, settings, fast, device),
                          stream, order))
    for step in range(warmup + steps):
        if step == warmup:
            synchronise(device)
            started = time.perf_counter()
        for batch_steps, stream, order in trainings:
            with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                index = order[step * size:(step + 1) * size]
                for _terms in batch_steps(batches.inputs(index), batches.targets(index)):
                    pass
    synchronise(device)
    seconds = time.perf_counter() - started
    return {"how": "seeds in one process", "count": count, "model": model_name,
            "step": step_label(model_name, fast),
            "images_per_s": count * steps * size / seconds, "seconds": seconds}
