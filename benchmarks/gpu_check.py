"""GPU check: training throughput and peak memory of the paper's networks at both geometries.

Runs the workflow's own training step (weaklesion.training.steps: normalisation, padding, the
``train.precision`` arithmetic, channels_last, the model's loss) on synthetic in-memory
batches, so it needs no dataset. Prints one row per model × geometry × precision and an
estimate of the paper grid's wall time (3 datasets × 3 models × 3 seeds) on this card.

    python benchmarks/gpu_check.py [--encoder resnet101] [--steps 200] [--json out.json]
        [--precision fp32 bf16]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time

import numpy as np
import torch

from weaklesion.models.registry import build_model
from weaklesion.splits.arrays import LesionArrays
from weaklesion.training.fast_paths import EAGER, FastPaths, compiled
from weaklesion.training.schedules import paper_schedule
from weaklesion.training.settings import TrainSettings
from weaklesion.training.steps import Batches, BatchSteps, mask_loss_scale, validate

# Lesions per dataset in the paper's splits (train, val+test), for the grid estimate.
PAPER_DATASETS = {"ham10000": (7008, 3004), "lits": (11522, 4940), "deeplesion": (22919, 9816)}
K = {"ham10000": 45, "lits": 40, "deeplesion": 190}


def synthetic(n: int, k: int, seed: int = 0) -> LesionArrays:
    """``n`` patches with a dark disc of one of three sizes on noisy skin, the disc as the
    target and its size as the cluster (one of ``k``): a real signal to learn."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:120, 0:120]
    radii = rng.choice([14, 22, 30], n)
    centres = rng.uniform(34, 86, (n, 2))
    masks = ((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2
             < radii[:, None, None] ** 2)
    skin, lesion = np.array([225, 190, 170]), np.array([90, 55, 45])
    images = np.where(masks[..., None], lesion, skin) + rng.normal(0, 12, (n, 120, 120, 3))
    images = np.clip(images, 0, 255).astype(np.uint8)
    clusters = (np.searchsorted([14, 22, 30], radii) % k).astype(np.int64)
    return LesionArrays(np.arange(n).astype(str), images, masks, clusters)


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_label(model_name: str, fast: FastPaths) -> str:
    """How a row's steps were taken: "eager", or the switches on, e.g. "fused + CUDA graph"."""
    parts = [name for name, on in (("fused", fast.fused_pairs and model_name == "ACoseg"),
                                   ("compile", fast.compile), ("CUDA graph", fast.cuda_graphs))
             if on]
    return " + ".join(parts) or "eager"


def bench_settings(model_name: str, geometry: str, encoder: str, precision: str
                   ) -> TrainSettings:
    """The paper's HAM10000 schedule for ``model_name`` on random weights."""
    return TrainSettings(model=model_name, encoder=encoder, encoder_weights=None,
                         num_clusters=45, geometry=geometry, channel_order="rgb",
                         pad_mode="zero", schedule=paper_schedule(model_name, "ham10000"),
                         seed=0, protocol="corrected", precision=precision)


def new_model(settings: TrainSettings, device: torch.device, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(settings.model, encoder=settings.encoder, encoder_weights=None,
                        num_clusters=settings.num_clusters).to(device).train()
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def validation_rate(network, settings: TrainSettings, arrays: LesionArrays, batch_size: int,
                    device: torch.device, images: int = 640) -> float:
    """Images/s of the workflow's validation (``training.validate``) at ``batch_size``, over
    about ``images`` lesions, after one untimed pass (autotuning, compiling)."""
    count = max(batch_size, images // batch_size * batch_size)
    batches = Batches(arrays.subset(np.arange(count) % len(arrays)), settings, device)
    scale = mask_loss_scale(settings.geometry)
    validate(network, settings, batches, scale, batch_size)
    synchronise(device)
    started = time.perf_counter()
    validate(network, settings, batches, scale, batch_size)
    synchronise(device)
    network.train()
    return count / (time.perf_counter() - started)


def measure(model_name: str, geometry: str, encoder: str, steps: int, warmup: int,
            device: torch.device, precision: str = "bf16", fast: FastPaths = EAGER,
            eval_batches: tuple[int, ...] = (64,), seed: int = 0, eval_images: int = 640
            ) -> dict:
    """Training images/s of the workflow's own steps (``training.BatchSteps``, as ``fast``
    takes them) at the paper's batch size, peak memory, the first step's seconds (compiling,
    capturing) and the validation's images/s at each of ``eval_batches``."""
    cuda = device.type == "cuda"
    settings = bench_settings(model_name, geometry, encoder, precision)
    torch.backends.cudnn.benchmark = True
    if fast.compile:
        # Dynamo keeps a few compiled graphs per function; earlier rows' would crowd it out
        # and leave this one running eagerly.
        torch._dynamo.reset()
    model = new_model(settings, device, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.schedule.lr,
                                 capturable=fast.cuda_graphs and cuda)
    network = compiled(model) if fast.compile else model
    batch_steps = BatchSteps(model, network, optimizer, settings, fast, device)
    arrays = synthetic(512, 45)
    batches = Batches(arrays, settings, device)
    size = settings.schedule.batch_size
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    # Every batch's lesions drawn at once, as training draws an epoch's order: a copy to the
    # GPU per step would make the CPU wait for it.
    order = torch.randint(0, len(batches), ((warmup + steps) * size,),
                          generator=torch.Generator().manual_seed(seed)).to(device)
    for step in range(warmup + steps):
        if step == warmup:
            synchronise(device)
            started = time.perf_counter()
        if step == 0:
            first_started = time.perf_counter()
        index = order[step * size:(step + 1) * size]
        for _terms in batch_steps(batches.inputs(index), batches.targets(index)):
            pass
        if step == 0:
            synchronise(device)
            first_step_s = time.perf_counter() - first_started
    synchronise(device)
    seconds = time.perf_counter() - started
    rates = {batch: validation_rate(network, settings, arrays, batch, device, eval_images)
             for batch in eval_batches}
    return {"model": model_name, "geometry": geometry, "encoder": encoder,
            "precision": precision, "step": step_label(model_name, fast),
            "cuda_graphs": fast.cuda_graphs, "fused_pairs": batch_steps.fused_pairs,
            "compile": fast.compile, "batch": size,
            "train_images_per_s": steps * size / seconds,
            "eval_images_per_s": rates[eval_batches[0]] if eval_batches else None,
            "eval_images_per_s_by_batch": {str(b): r for b, r in rates.items()},
            "first_step_s": first_step_s,
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan"),
            "step_ms": 1000 * seconds / steps}


def grid_hours(rows: list[dict], geometry: str, epochs: int) -> float:
    """Wall time of 3 datasets × 3 models × 3 seeds, each for ``epochs`` epochs."""
    total = 0.0
    for row in (r for r in rows if r["geometry"] == geometry):
        for train_n, eval_n in PAPER_DATASETS.values():
            per_epoch = train_n / row["train_images_per_s"] + eval_n / row["eval_images_per_s"]
            total += 3 * epochs * per_epoch
    return total / 3600


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="resnet101")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=["A1", "A1+L", "ACoseg"])
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="also measure each training step captured as one CUDA graph")
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"],
                        choices=["fp32", "bf16"], help="train.precision values to measure")
    parser.add_argument("--device", default="cuda",
                        help="cuda (default); cpu only to compare or smoke-test on a laptop")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device; nothing to measure", file=sys.stderr)
        return 1
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"device: {name}  torch {torch.__version__}", flush=True)
    rows = []
    variants = (False, True) if args.cuda_graphs and device.type == "cuda" else (False,)
    for model_name in args.models:
        for geometry in ("paper", "compact"):
            for graphs, precision in itertools.product(variants, args.precision):
                try:
                    row = measure(model_name, geometry, args.encoder, args.steps,
                                  args.warmup, device, precision,
                                  FastPaths(cuda_graphs=graphs))
                except Exception as error:  # report and go on: one failure must not hide the rest
                    print(f"{model_name} {geometry} graphs={graphs} {precision}: FAILED "
                          f"{error!r}", flush=True)
                    continue
                rows.append(row)
                print(f"{model_name:7s} {geometry:8s} {'graph' if graphs else 'eager'} "
                      f"{precision}  "
                      f"batch {row['batch']:2d}  "
                      f"train {row['train_images_per_s']:8.1f} img/s  "
                      f"eval {row['eval_images_per_s']:8.1f} img/s  "
                      f"step {row['step_ms']:6.1f} ms  peak {row['peak_memory_gib']:5.2f} GiB",
                      flush=True)
    for graphs, precision in itertools.product(variants, args.precision):
        chosen = [r for r in rows if (r["cuda_graphs"], r["precision"]) == (graphs, precision)]
        label = f"{'CUDA graphs' if graphs else 'eager'}, {precision}"
        for geometry in ("paper", "compact"):
            print(f"paper grid (27 runs), {geometry}, {label}: "
                  f"{grid_hours(chosen, geometry, 50):.2f} h at 50 epochs, "
                  f"{grid_hours(chosen, geometry, 20):.2f} h at 20 epochs")
        paper = {r["model"]: r["train_images_per_s"] for r in chosen
                 if r["geometry"] == "paper"}
        for r in chosen:
            if r["geometry"] == "compact" and r["model"] in paper:
                print(f"{r['model']} ({label}): compact / paper training throughput "
                      f"{r['train_images_per_s'] / paper[r['model']]:.2f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"device": name, "torch": torch.__version__,
                       "rows": rows}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
