"""GPU check: training throughput and peak memory of the paper's networks at both geometries.

Runs the workflow's own training step (weaklesion.training: normalisation, padding, the
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

from weaklesion.cuda_graphs import GraphedStep
from weaklesion.models import build_model
from weaklesion.schedules import paper_schedule
from weaklesion.training import (
    Batches,
    LesionArrays,
    TrainSettings,
    _autocast_terms,
    _step_rows,
    autocast,
    mask_loss_scale,
    step_terms,
)

# Lesions per dataset in the paper's splits (train, val+test), for the grid estimate.
PAPER_DATASETS = {"ham10000": (7008, 3004), "lits": (11522, 4940), "deeplesion": (22919, 9816)}
K = {"ham10000": 45, "lits": 40, "deeplesion": 190}


def synthetic(n: int, k: int, seed: int = 0) -> LesionArrays:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 120, 120, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:120, 0:120]
    masks = np.stack([(xx - 60 - d) ** 2 + (yy - 60) ** 2 < 900 for d in rng.integers(-9, 9, n)])
    return LesionArrays(np.arange(n).astype(str), images, masks,
                        rng.integers(0, k, n).astype(np.int64))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(model_name: str, geometry: str, encoder: str, steps: int, warmup: int,
            device: torch.device, graphs: bool = False, precision: str = "bf16") -> dict:
    cuda = device.type == "cuda"
    schedule = paper_schedule(model_name, "ham10000")
    settings = TrainSettings(model=model_name, encoder=encoder, encoder_weights=None,
                             num_clusters=45, geometry=geometry, channel_order="rgb",
                             pad_mode="zero", schedule=schedule, seed=0)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    model = build_model(model_name, encoder=encoder, encoder_weights=None, num_clusters=45)
    model = model.to(device).train()
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=schedule.lr, capturable=graphs)
    batches = Batches(synthetic(512, 45), settings, device)
    scale = mask_loss_scale(geometry)
    size = schedule.batch_size
    graphed = None
    if graphs:
        # One captured step per optimiser step; ACoseg's second pair is the batch rolled by
        # one sub-batch, so the same graph serves both of its steps.
        first, second = _step_rows(model_name, size)[0]
        pair = (slice(0, first.stop - first.start),
                None if second is None else slice(second.start - first.start, size))
        graphed = GraphedStep(
            model, optimizer,
            lambda x, t: _autocast_terms(precision, model, model_name, x, t, pair, scale,
                                         cache_enabled=False),
            grad_clip=schedule.grad_clip)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    images = 0
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            started, images = time.perf_counter(), 0
        index = torch.randint(0, len(batches), (size,), device=device)
        x, targets = batches.inputs(index), batches.targets(index)
        if graphed is not None:
            for shift in range(len(_step_rows(model_name, size))):
                graphed(x.roll(-4 * shift, 0), {k: v.roll(-4 * shift, 0)
                                                 for k, v in targets.items()})
            images += size
            continue
        for rows in _step_rows(model_name, size):
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, precision):
                terms = step_terms(model, model_name, x, targets, rows, scale)
            terms["loss"].backward()
            if schedule.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), schedule.grad_clip)
            optimizer.step()
        images += size
    _sync(device)
    seconds = time.perf_counter() - started
    train_rate = images / seconds

    model.eval()
    eval_images = 0
    with torch.no_grad(), autocast(device, precision):
        model(batches.inputs(torch.arange(0, 64, device=device)))  # cuDNN autotuning
        _sync(device)
        started = time.perf_counter()
        for _ in range(20 if cuda else 2):
            index = torch.arange(0, 64, device=device)
            model(batches.inputs(index))
            eval_images += 64
        _sync(device)
    eval_rate = eval_images / (time.perf_counter() - started)
    return {"model": model_name, "geometry": geometry, "encoder": encoder,
            "cuda_graphs": graphs, "precision": precision,
            "batch": size, "train_images_per_s": train_rate,
            "eval_images_per_s": eval_rate,
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
                                  args.warmup, device, graphs, precision)
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
