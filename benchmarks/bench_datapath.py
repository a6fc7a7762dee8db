"""The data path of a training step on CPU: its share of the step, and ours vs the reference.

    .venv/bin/python benchmarks/bench_datapath.py [--steps 6] [--encoder resnet18]

On the demo-like patches and ellipse targets of the synthetic HAM10000-layout dataset (made
by the workflow's stages once and cached), for A1+L at the paper's batch of 10 and both
geometries:

- the workflow's own training step (weaklesion.training.steps: Batches, step_terms, Adam) with
  timers around the data path (index, normalise, pad, targets) and around
  forward+loss, backward and the optimiser step; the share outside those three is reported;
- building one batch our way (tensors already in memory) vs the reference's per-sample way
  (decode two PNG files, resize, mirror-pad, normalise, collate; :mod:`reference_loader`),
  checked to give the same tensors under ``pad_mode: reflect``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from harness import Result, Target, base_parser, finish, median, usable_cores


def demo_arrays(cache: Path, source: tuple[int, int, int], lesions: int, k: int):
    """Patches, ellipse targets and random cluster labels of the cached synthetic stores of
    ``source`` = (lesions, width, height)."""
    from bench_grabcut import prepared_stores

    from weaklesion.datasets.patch_store import read_arrays
    from weaklesion.splits.arrays import LesionArrays

    stores = prepared_stores(cache, *source, usable_cores())
    images = read_arrays(stores / "data.h5", ["image"])["image"][:lesions]
    masks = read_arrays(stores / "targets.h5", ["ellipse"])["ellipse"][:lesions]
    clusters = np.random.default_rng(0).integers(0, k, len(images)).astype(np.int64)
    return LesionArrays(np.arange(len(images)).astype(str), images, masks, clusters)


def settings_for(geometry: str, encoder: str, k: int, pad_mode: str = "zero"):
    from weaklesion.training.schedules import paper_schedule
    from weaklesion.training.settings import TrainSettings

    return TrainSettings(model="A1+L", encoder=encoder, encoder_weights=None, num_clusters=k,
                         geometry=geometry, channel_order="rgb", pad_mode=pad_mode,
                         schedule=paper_schedule("A1+L", "ham10000"), seed=0,
                         protocol="corrected")


def step_shares(arrays, settings, batch: int, steps: int, warmup: int) -> dict[str, float]:
    """Seconds per step in each part of the workflow's training step, and the share of a step
    outside forward/backward/optimiser step (medians over steps; the share is taken per step,
    so that it is never the difference of two independent medians)."""
    import torch

    from weaklesion.models.registry import build_model
    from weaklesion.training.steps import Batches, _step_rows, mask_loss_scale, step_terms

    torch.manual_seed(0)
    device = torch.device("cpu")
    model = build_model("A1+L", encoder=settings.encoder, encoder_weights=None,
                        num_clusters=settings.num_clusters).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.schedule.lr)
    batches = Batches(arrays, settings, device)
    scale = mask_loss_scale(settings.geometry)
    generator = torch.Generator().manual_seed(0)
    parts: dict[str, list[float]] = {k: [] for k in ("data", "forward", "backward", "step",
                                                     "bookkeeping", "total", "outside")}
    clock = time.perf_counter
    for step in range(warmup + steps):
        times = dict.fromkeys(parts, 0.0)
        start = clock()
        index = torch.randperm(len(batches), generator=generator)[:batch]
        x, targets = batches.inputs(index), batches.targets(index)
        times["data"] = clock() - start
        sums: dict[str, torch.Tensor] = {}
        for rows in _step_rows(settings.model, len(index)):
            mark = clock()
            optimizer.zero_grad(set_to_none=True)
            terms = step_terms(model, settings.model, x, targets, rows, scale)
            times["forward"] += clock() - mark
            mark = clock()
            terms["loss"].backward()
            times["backward"] += clock() - mark
            mark = clock()
            optimizer.step()
            times["step"] += clock() - mark
            mark = clock()
            for key, value in terms.items():  # what train() does per step
                sums[key] = sums.get(key, 0.0) + value.detach().double()
            times["bookkeeping"] += clock() - mark
        times["total"] = clock() - start
        inside = times["forward"] + times["backward"] + times["step"]
        times["outside"] = 1 - inside / times["total"]
        if step >= warmup:
            for key, value in times.items():
                parts[key].append(value)
    return {key: median(values) for key, values in parts.items()}


def batch_build_times(arrays, stems, settings, batch: int,
                      repeats: int) -> tuple[float, float, float]:
    """(ours, reference) seconds per batch, and the largest difference of their tensors."""
    import reference_loader
    import torch

    from weaklesion.models.canvas import get_geometry
    from weaklesion.training.steps import Batches

    geometry = get_geometry(settings.geometry)
    batches = Batches(arrays, settings, torch.device("cpu"))
    generator = np.random.default_rng(1)
    ours, reference, difference = [], [], 0.0
    for _ in range(repeats):
        rows = generator.choice(len(arrays), batch, replace=False)
        index = torch.from_numpy(rows)
        start = time.perf_counter()
        x, targets = batches.inputs(index), batches.targets(index)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        x_ref, targets_ref = reference_loader.load_batch(
            [stems[i] for i in rows], arrays.clusters[rows], geometry.shape, geometry.top,
            geometry.left)
        reference.append(time.perf_counter() - start)
        if settings.pad_mode == "reflect":
            difference = max(difference, float((x - x_ref).abs().max()),
                             float((targets["mask"] - targets_ref["mask"]).abs().max()))
    return median(ours), median(reference), difference


def main(argv: list[str] | None = None) -> Result:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="resnet18", help="the demo's encoder")
    parser.add_argument("--geometries", nargs="+", choices=("paper", "compact"),
                        default=["paper", "compact"])
    parser.add_argument("--batch", type=int, default=10, help="the paper's batch size")
    parser.add_argument("--steps", type=int, nargs=2, default=[3, 8], metavar=("PAPER", "COMPACT"),
                        help="timed steps per geometry")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--lesions", type=int, default=400, help="lesions held in memory")
    parser.add_argument("--batches", type=int, default=30, help="batches built per path")
    parser.add_argument("--k", type=int, default=6, help="clusters (the demo's k)")
    parser.add_argument("--source", type=int, nargs=3, default=[2000, 600, 450],
                        metavar=("LESIONS", "WIDTH", "HEIGHT"),
                        help="the synthetic dataset whose stores give the patches")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    import reference_loader

    arrays = demo_arrays(args.cache, tuple(args.source), args.lesions, args.k)
    steps = dict(zip(("paper", "compact"), args.steps, strict=True))
    table, numbers, targets = [], {}, []
    with tempfile.TemporaryDirectory(prefix="bench-datapath-") as scratch:
        stems = reference_loader.write_sample_files(arrays.images, arrays.masks, Path(scratch))
        for geometry in args.geometries:
            shares = step_shares(arrays, settings_for(geometry, args.encoder, args.k),
                                 args.batch, steps[geometry], args.warmup)
            outside = shares["outside"]
            ours, reference, _ = batch_build_times(
                arrays, stems, settings_for(geometry, args.encoder, args.k), args.batch,
                args.batches)
            _, _, difference = batch_build_times(
                arrays, stems, settings_for(geometry, args.encoder, args.k, "reflect"),
                args.batch, 3)
            numbers[geometry] = {**shares, "outside": outside, "batch_ours": ours,
                                 "batch_reference": reference, "max_difference": difference}
            table.append({
                "geometry": geometry,
                "step (s)": f"{shares['total']:.3f}",
                "data path (ms)": f"{1000 * shares['data']:.2f}",
                "forward / backward / step (s)": f"{shares['forward']:.3f} / "
                                                 f"{shares['backward']:.3f} / {shares['step']:.3f}",
                "outside them": f"{100 * outside:.2f} %",
                "batch, ours (ms)": f"{1000 * ours:.2f}",
                "batch, reference (ms)": f"{1000 * reference:.2f}",
                "ratio": f"{reference / ours:.0f}×",
            })
            share = Target(f"≤ 2 % of a step outside forward/backward/step ({geometry})",
                           100 * outside, 2, False, " %")
            share.why = (f"the step's own bookkeeping ({1000 * shares['bookkeeping']:.1f} ms) "
                         f"and data path ({1000 * shares['data']:.1f} ms) against "
                         f"{shares['total']:.3f} s")
            speed = Target(f"≥ 50× the reference per-sample path ({geometry})",
                           reference / ours, 50, True, "×")
            speed.why = (f"ours builds a batch in {1000 * ours:.2f} ms: normalising and padding "
                         f"{args.batch} canvases is real arithmetic, the files are small")
            targets += [share, speed]
    reported, notes = [], []
    if {"paper", "compact"} <= numbers.keys():
        ratio = numbers["paper"]["total"] / numbers["compact"]["total"]
        reported.append(("training throughput, compact vs paper geometry (CPU; the GPU "
                         "target is ≥ 8×)", f"{ratio:.1f}×"))
        notes.append(f"CPU training throughput, compact vs paper geometry: {ratio:.1f}× "
                     f"({args.batch / numbers['compact']['total']:.1f} vs "
                     f"{args.batch / numbers['paper']['total']:.1f} images/s)")
    result = Result(
        name="datapath",
        title="Data path in training (CPU)",
        inputs=(f"A1+L, {args.encoder} without pretrained weights, batch {args.batch}, "
                f"{usable_cores()} CPU threads; demo-like 120×120 patches and ellipse targets; "
                f"medians of {' and '.join(f'{steps[g]} {g}' for g in args.geometries)} steps "
                f"after {args.warmup} warm-up step(s), and of {args.batches} batches per path"),
        table=table,
        targets=targets,
        reported=reported,
        notes=[*notes,
               "both paths give the same input and mask tensors under pad_mode: reflect "
               f"(largest difference {max(n['max_difference'] for n in numbers.values()):.1e})",
               "the reference path is timed with DataLoader's num_workers = 0; worker "
               "processes would hide part of it behind the step but not reduce its CPU cost"],
        numbers=numbers,
    )
    return finish(result, argv, started, args.json)


if __name__ == "__main__":
    main()
