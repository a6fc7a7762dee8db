"""The paper grid on this GPU machine: step rates, memory, sharing a GPU, projected wall time.

    bash benchmarks/gpu_grid.sh            # on a GPU machine; about 6 min on an H200
    python benchmarks/gpu_grid.py --device cpu --encoder resnet18 --steps 2 --warmup 1 \\
        --models A1 --geometries compact --precision fp32 --no-write   # a smoke test

1. Images/s and peak memory of the workflow's training step (``gpu_check.measure``) per model
   × geometry × precision, eager and captured as one CUDA graph (CUDA only).
2. Sharing one GPU: 1, 2 and 4 processes training A1+L concurrently on one device (what
   ``gpus.jobs_per_gpu`` does), their summed images/s against one alone.
3. The paper grid's projected wall time (``grid_projection``) on 1, 2, 4 and 8 GPUs, each
   with the best measured number of jobs per GPU, at 50 epochs and at the epochs early
   stopping took in a finished run's histories (``--histories results``) where there is one.

Writes ``benchmarks/results/gpu_grid.json`` and the "GPU grid" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grid_projection import MODELS, projection, run_hours  # noqa: E402
from harness import child_env  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BEGIN = "<!-- gpu-grid:begin — written by `bash benchmarks/gpu_grid.sh` -->"
END = "<!-- gpu-grid:end -->"


def measure_rows(args, device: torch.device) -> list[dict]:
    from gpu_check import measure

    variants = [False, True] if device.type == "cuda" else [False]
    rows = []
    for model, geometry, precision, graphs in itertools.product(
            args.models, args.geometries, args.precision, variants):
        try:
            row = measure(model, geometry, args.encoder, args.steps, args.warmup, device,
                          graphs, precision)
        except Exception as error:  # one failure must not hide the other rows
            print(f"{model} {geometry} {precision} graphs={graphs}: FAILED {error!r}",
                  flush=True)
            continue
        rows.append(row)
        print(f"{model:7s} {geometry:8s} {precision} {'graph' if graphs else 'eager'}: "
              f"train {row['train_images_per_s']:.1f} img/s, eval "
              f"{row['eval_images_per_s']:.1f} img/s, peak {row['peak_memory_gib']:.2f} GiB",
              flush=True)
    return rows


def sharing(args, device: torch.device) -> list[dict]:
    """Summed training images/s of k concurrent processes on one device, for k in
    ``args.sharing`` (the first is the baseline)."""
    results = []
    geometry = args.geometries[-1]
    for count in args.sharing:
        command = [sys.executable, str(Path(__file__).resolve()), "--one-process",
                   "--device", str(device), "--encoder", args.encoder,
                   "--steps", str(args.sharing_steps), "--warmup", str(args.warmup),
                   "--geometries", geometry, "--precision", args.precision[-1]]
        env = child_env()
        started = time.perf_counter()
        jobs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
                for _ in range(count)]
        rates = []
        for job in jobs:
            out, _ = job.communicate(timeout=args.sharing_timeout_s)
            if job.returncode == 0:
                rates.append(json.loads(out.strip().splitlines()[-1])["train_images_per_s"])
        if len(rates) < count:
            print(f"sharing: {count - len(rates)} of {count} processes failed", flush=True)
            break
        results.append({"processes": count, "images_per_s": sum(rates),
                        "per_process": rates, "seconds": time.perf_counter() - started})
        print(f"{count} process(es) on one device: {sum(rates):.1f} img/s in all", flush=True)
    return results


def one_process(args) -> None:
    from gpu_check import measure

    device = torch.device(args.device)
    row = measure("A1+L", args.geometries[0], args.encoder, args.steps, args.warmup, device,
                  False, args.precision[0])
    print(json.dumps(row))


def early_stopping_epochs(histories: Path | None) -> dict[str, float] | None:
    """Mean epochs per model over the paper-protocol runs' history.csv under ``histories``."""
    if histories is None or not histories.is_dir():
        return None
    import pandas as pd

    epochs: dict[str, list[int]] = {}
    for history in histories.glob("*/paper/*/seed*/history.csv"):
        model = history.parent.parent.name
        epochs.setdefault(model, []).append(int(pd.read_csv(history)["epoch"].max()))
    if not all(model in epochs for model in MODELS):
        return None
    return {model: sum(e) / len(e) for model, e in epochs.items()}


def projections(rows: list[dict], shared: list[dict], epochs: dict[str, float] | None,
                gpu_counts=(1, 2, 4, 8)) -> list[dict]:
    """Grid wall hours per geometry × precision × step, on each GPU count, with the number of
    jobs per GPU that measured fastest."""
    gain = {s["processes"]: s["images_per_s"] / shared[0]["images_per_s"] for s in shared} \
        if shared else {1: 1.0}
    best_share = max(gain, key=lambda k: gain[k])
    out = []
    keys = sorted({(r["geometry"], r["precision"], r["cuda_graphs"]) for r in rows})
    for geometry, precision, graphs in keys:
        chosen = {r["model"]: (r["train_images_per_s"], r["eval_images_per_s"]) for r in rows
                  if (r["geometry"], r["precision"], r["cuda_graphs"]) ==
                  (geometry, precision, graphs)}
        if "A1+L" in chosen:
            chosen.setdefault("A1", chosen["A1+L"])  # the same network and step cost
        if not all(m in chosen for m in MODELS):
            continue
        for label, run_epochs in (("50 epochs", 50.0), ("early-stopped epochs", epochs)):
            if run_epochs is None:
                continue
            runs = run_hours(chosen, run_epochs)
            for gpus in gpu_counts:
                for share in sorted({1, best_share}):
                    p = projection(runs, gpus, share, gain.get(share, 1.0))
                    out.append({"geometry": geometry, "precision": precision,
                                "step": "CUDA graph" if graphs else "eager", "epochs": label,
                                **p})
    return out


def render(record: dict) -> str:
    lines = [BEGIN, "", f"## GPU grid — {record['device']} ({record['date']})", "",
             f"Command: `{record['command']}`; torch {record['torch']}, encoder "
             f"{record['encoder']}, random weights, synthetic batches of the paper's sizes; "
             f"{record['steps']} timed steps after {record['warmup']}. Raw record: "
             "`benchmarks/results/gpu_grid.json`.", "",
             "| model | geometry | precision | step | train images/s | eval images/s | "
             "peak memory (GiB) |", "|---|---|---|---|---|---|---|"]
    for r in record["rows"]:
        lines.append(f"| {r['model']} | {r['geometry']} | {r['precision']} | "
                     f"{'CUDA graph' if r['cuda_graphs'] else 'eager'} | "
                     f"{r['train_images_per_s']:.1f} | {r['eval_images_per_s']:.1f} | "
                     f"{r['peak_memory_gib']:.2f} |")
    if record["sharing"]:
        base = record["sharing"][0]["images_per_s"]
        lines += ["", "Sharing one GPU (A1+L, eager): "
                  + "; ".join(f"{s['processes']} process(es) {s['images_per_s']:.1f} images/s "
                              f"({s['images_per_s'] / base:.2f}×)" for s in record["sharing"])]
    lines += ["", "| geometry | precision | step | epochs | GPUs | jobs per GPU | ideal (h) | "
              "workflow order (h) | longest first (h) | efficiency |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for p in record["projections"]:
        lines.append(f"| {p['geometry']} | {p['precision']} | {p['step']} | {p['epochs']} | "
                     f"{p['gpus']} | {p['jobs_per_gpu']} | {p['ideal_h']:.2f} | "
                     f"{p['workflow_order_h']:.2f} | {p['longest_first_h']:.2f} | "
                     f"{100 * p['efficiency']:.0f} % |")
    lines += ["", "Efficiency: total ÷ slots against the workflow-order makespan (the goal: "
              "within 10 % of ÷ N). The CUDA graph rows are weaklesion/cuda_graphs.py, which "
              "training uses with gpus.cuda_graphs: true.", "", END]
    return "\n".join(lines) + "\n"


def write_section(document: Path, section: str) -> None:
    text = document.read_text() if document.is_file() else "# Benchmarks\n"
    start, end = text.find(BEGIN), text.find(END)
    if start >= 0 and end > start:
        text = text[:start] + section + text[end + len(END) + 1:]
    else:
        heading = text.find("\n## ")
        at = heading + 1 if heading >= 0 else len(text)
        text = text[:at] + section + "\n" + text[at:]
    document.write_text(text)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--encoder", default="resnet101")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--geometries", nargs="+", default=["paper", "compact"])
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--sharing", type=int, nargs="*", default=[1, 2, 4],
                        help="process counts for the GPU-sharing measurement (none: skip)")
    parser.add_argument("--sharing-steps", type=int, default=150)
    parser.add_argument("--sharing-timeout-s", type=float, default=240)
    parser.add_argument("--histories", type=Path, default=REPO / "results")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks/results/gpu_grid.json")
    parser.add_argument("--document", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--one-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_process:
        one_process(args)
        return None
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_grid: no CUDA device; nothing to measure", file=sys.stderr)
        raise SystemExit(1)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    rows = measure_rows(args, device)
    shared = sharing(args, device)
    record = {
        "device": name, "torch": torch.__version__, "encoder": args.encoder,
        "steps": args.steps, "warmup": args.warmup,
        "command": " ".join(["bash benchmarks/gpu_grid.sh",
                             *(sys.argv[1:] if argv is None else argv)]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": rows, "sharing": shared,
        "early_stopping_epochs": early_stopping_epochs(args.histories),
    }
    record["projections"] = projections(rows, shared, record["early_stopping_epochs"])
    section = render(record)
    print(section)
    if not args.no_write:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        write_section(args.document, section)
    return record


if __name__ == "__main__":
    main()
