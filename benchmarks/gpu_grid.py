"""The paper grid on this GPU machine: every faster way to train, measured, and the grid's wall
time projected from the fastest.

    bash benchmarks/gpu_grid.sh            # on a GPU machine; stops itself within 8 minutes
    python benchmarks/gpu_grid.py --device cpu --encoder resnet18 --steps 2 --warmup 1 \\
        --geometries compact --precision fp32 --no-write   # a smoke test

In order, each part started only while the time budget (``--budget-s``) leaves room for it,
the record written after each:

1. Steps: training images/s, peak memory and first-step seconds of the workflow's own steps
   (``training.BatchSteps``) per model × geometry × precision, eager, replayed from CUDA
   graphs, and for ACoseg with its pairs fused (``weaklesion.training.fused_passes``); the
   validation's images/s at the default batch and at larger ones.
2. Results unchanged: validation curves of the fastest steps against eager ones
   (``gpu_parity``), in the first of ``--parity-precision`` (fp32, the paper's).
3. Several trainings on one GPU: processes (``gpus.jobs_per_gpu``) and seeds in one process
   on CUDA streams (``gpu_concurrency``); then 2. in the other precisions.
4. ``torch.compile`` (``gpus.compile``), alone and under CUDA graphs: the most expensive part
   (compiling ResNet-101's training graph takes minutes), so last.

Then the grid's projected wall time (``grid_projection``) eager and with the fastest measured
steps, on 1-8 GPUs, at 50 epochs and at the epochs early stopping took at demo scale
(``bench_early_stopping.py``'s record, or ``--histories`` of a finished run). Writes
``benchmarks/results/gpu_grid.json`` and the "GPU grid" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_check import measure  # noqa: E402
from gpu_concurrency import processes_sharing, seeds_in_one_process  # noqa: E402
from gpu_parity import parity  # noqa: E402
from grid_projection import MODELS, projection, run_hours  # noqa: E402

from weaklesion.training.fast_paths import EAGER, FastPaths  # noqa: E402
from weaklesion.training.schedules import paper_schedule  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BEGIN = "<!-- gpu-grid:begin — written by `bash benchmarks/gpu_grid.sh` -->"
END = "<!-- gpu-grid:end -->"
DEMO_EPOCHS = REPO / "benchmarks/results/demo_epochs.json"
GRAPH = FastPaths(cuda_graphs=True)
FUSED = FastPaths(fused_pairs=True)
FUSED_GRAPH = FastPaths(cuda_graphs=True, fused_pairs=True)
# Seconds a part needs before it is started (rough upper bounds on an H200).
RESERVE_S = {"row": 25, "parity": 45, "processes": 60, "seeds": 45, "compile": 150}


class Budget:
    """What is left of ``seconds`` since construction; parts skipped for lack of it."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.skipped: list[str] = []

    def allows(self, part: str, what: str) -> bool:
        if self.deadline - time.monotonic() >= RESERVE_S[part]:
            return True
        self.skipped.append(what)
        print(f"skipped (time budget): {what}", flush=True)
        return False


def step_variants(model: str, device: torch.device, compiling: bool = False
                  ) -> list[FastPaths]:
    """The ways ``model``'s steps are measured: graphs on CUDA only, fused pairs for ACoseg."""
    cuda = device.type == "cuda"
    if compiling:
        base = FastPaths(compile=True, fused_pairs=model == "ACoseg")
        return [base, FastPaths(compile=True, fused_pairs=base.fused_pairs,
                                cuda_graphs=True)] if cuda else [base]
    variants = [EAGER, GRAPH] if cuda else [EAGER]
    if model == "ACoseg":
        variants += [FUSED, FUSED_GRAPH] if cuda else [FUSED]
    return variants


def default_validation_batch(model: str) -> int:
    """The validation batch of training without ``gpus.validation_batch_size``."""
    return EAGER.validation_batch(paper_schedule(model, "ham10000").batch_size)


def measure_steps(args, device, budget: Budget, combos, rows: list[dict], saved,
                  compiling: bool = False) -> None:
    """Append a row per model × step variant × (geometry, precision) of ``combos`` to
    ``rows``, calling ``saved()`` after each."""
    for geometry, precision in combos:
        for model in args.models:
            for fast in step_variants(model, device, compiling):
                what = f"{model} {geometry} {precision} {fast.described()}"
                if not budget.allows("compile" if compiling else "row", what):
                    continue
                # Validation does not depend on the step: measured once, with eager steps.
                eval_batches = ((default_validation_batch(model), *args.eval_batches)
                                if fast == EAGER else (args.eval_batches[0],))
                try:
                    row = measure(model, geometry, args.encoder, args.steps, args.warmup,
                                  device, precision, fast, eval_batches,
                                  eval_images=args.eval_images)
                except Exception as error:  # one failure must not hide the other rows
                    row = {"model": model, "geometry": geometry, "precision": precision,
                           "step": fast.described(), "failed": repr(error)[:300]}
                finally:  # the row's model, graphs and their memory pools, before the next
                    release_memory(device)
                rows.append(row)
                saved()
                if "failed" in row:
                    print(f"{what}: FAILED {row['failed']}", flush=True)
                    continue
                print(f"{model:7s} {geometry:8s} {precision} {row['step']:24s} train "
                      f"{row['train_images_per_s']:8.1f} img/s, first step "
                      f"{row['first_step_s']:6.1f} s, validation "
                      + ", ".join(f"{r:.0f} img/s at {b}" for b, r in
                                  row["eval_images_per_s_by_batch"].items())
                      + f", peak {row['peak_memory_gib']:.2f} GiB", flush=True)


def release_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def measured(rows: list[dict]) -> list[dict]:
    return [r for r in rows if "failed" not in r]


def fastest(rows: list[dict], model: str, geometry: str, precision: str) -> dict | None:
    """The row of ``model``'s fastest measured step at ``geometry`` × ``precision``."""
    mine = [r for r in measured(rows)
            if (r["model"], r["geometry"], r["precision"]) == (model, geometry, precision)]
    return max(mine, key=lambda r: r["train_images_per_s"], default=None)


def fast_paths_of(row: dict, validation_batch: int | None = None) -> FastPaths:
    return FastPaths(cuda_graphs=row["cuda_graphs"], fused_pairs=row["fused_pairs"],
                     compile=row["compile"], validation_batch_size=validation_batch)


def best_validation(rows: list[dict], model: str, geometry: str, precision: str,
                    compiled: bool = False) -> tuple[int, float] | None:
    """(batch, images/s) of the fastest validation measured for ``model`` through the
    compiled network or the plain one."""
    rates = [(int(b), rate) for r in measured(rows)
             if (r["model"], r["geometry"], r["precision"], r["compile"])
             == (model, geometry, precision, compiled)
             for b, rate in r["eval_images_per_s_by_batch"].items()]
    return max(rates, key=lambda item: item[1], default=None)


def measure_concurrency(args, device, budget: Budget, rows: list[dict]) -> list[dict]:
    geometry, precision = args.geometries[0], args.precision[0]
    results = []
    for model in reversed(args.models):  # ACoseg first: most of the grid's time
        row = fastest(rows, model, geometry, precision)
        fast = fast_paths_of(row) if row else EAGER
        if budget.allows("processes", f"{model}: processes sharing one GPU"):
            results += processes_sharing(args.sharing, model, geometry, precision,
                                         args.encoder, args.sharing_steps, args.warmup, device,
                                         fast, args.sharing_timeout_s)
        for count in args.seeds:
            if not budget.allows("seeds", f"{model}: {count} seeds in one process"):
                break
            try:
                result = seeds_in_one_process(count, model, geometry, precision, args.encoder,
                                              args.sharing_steps, args.warmup, device, fast)
            except Exception as error:
                print(f"{model}: {count} seeds in one process FAILED {error!r}", flush=True)
                break
            results.append(result)
            print(f"{model}: {count} seed(s) in one process: {result['images_per_s']:.1f} "
                  "img/s in all", flush=True)
            release_memory(device)
    return results


def measure_parity(args, device, budget: Budget, rows: list[dict], precisions: list[str]
                   ) -> list[dict]:
    """Eager against the fastest steps measured for each model (at the first geometry and
    precision), with validation at the fastest batch."""
    results = []
    geometry = args.geometries[0]
    for precision in precisions:
        for model in args.models:
            if not budget.allows("parity", f"results unchanged: {model} {precision}"):
                continue
            row = fastest(rows, model, geometry, precision) or fastest(
                rows, model, geometry, args.precision[0])
            validation = row and best_validation(rows, model, geometry, precision,
                                                 row["compile"])
            fast = fast_paths_of(row, validation[0] if validation else None) if row else GRAPH
            results.append(parity(model, precision, args.parity_epochs, fast, device,
                                  dict(zip(("train", "val"), args.parity_lesions,
                                           strict=True))))
            release_memory(device)
    return results


def sharing_gain(concurrency: list[dict]) -> dict[int, float]:
    """Summed images/s of k processes over one, for the model measured first."""
    processes = [c for c in concurrency if c["how"] == "processes"]
    if not processes:
        return {1: 1.0}
    model = processes[0]["model"]
    mine = {c["count"]: c["images_per_s"] for c in processes if c["model"] == model}
    return {count: rate / mine[min(mine)] for count, rate in mine.items()}


def early_stopping_epochs(histories: Path | None) -> dict[str, float] | None:
    """Mean epochs per model over the paper-protocol runs' history.csv under ``histories``,
    or from a JSON file of them: by default ``benchmarks/results/demo_epochs.json``, which
    ``bench_early_stopping.py`` writes from the demo trained with the protocol's schedule."""
    if histories is None:
        return None
    if histories.is_file():
        return json.loads(histories.read_text())
    if not histories.is_dir():
        return None
    import pandas as pd

    epochs: dict[str, list[int]] = {}
    for history in histories.glob("*/paper/*/seed*/history.csv"):
        model = history.parent.parent.name
        epochs.setdefault(model, []).append(int(pd.read_csv(history)["epoch"].max()))
    if not all(model in epochs for model in MODELS):
        return None
    return {model: sum(e) / len(e) for model, e in epochs.items()}


def step_rates(rows: list[dict], geometry: str, precision: str, eager: bool
               ) -> dict[str, tuple[float, float]] | None:
    """model → (training images/s, validation images/s): eager steps with validation at the
    default batch, or each model's fastest step with its fastest validation."""
    rates = {}
    for model in MODELS:
        source = model if any(r["model"] == model for r in measured(rows)) else "A1+L"
        if eager:
            row = next((r for r in measured(rows) if r["step"] == "eager" and
                        (r["model"], r["geometry"], r["precision"]) ==
                        (source, geometry, precision)), None)
            validation = row and row["eval_images_per_s_by_batch"].get(
                str(default_validation_batch(source)))
        else:
            row = fastest(rows, source, geometry, precision)
            best = row and best_validation(rows, source, geometry, precision, row["compile"])
            validation = best and best[1]
        if not row or not validation:
            return None
        rates[model] = (row["train_images_per_s"], validation)
    return rates


def projections(rows: list[dict], concurrency: list[dict], epochs: dict[str, float] | None,
                gpu_counts=(1, 2, 4, 8)) -> list[dict]:
    """Grid wall hours per geometry × precision, eager and fastest, on each GPU count, with
    one job per GPU and with the number of processes per GPU that measured fastest."""
    gain = sharing_gain(concurrency)
    best_share = max(gain, key=lambda k: gain[k])
    out = []
    combos = sorted({(r["geometry"], r["precision"]) for r in measured(rows)})
    for geometry, precision in combos:
        for steps in ("eager", "fastest"):
            rates = step_rates(rows, geometry, precision, steps == "eager")
            if rates is None:
                continue
            per_epoch = sum(r[3] for r in run_hours(rates, 1.0))
            finished = epochs and "epochs early stopping took (" + ", ".join(
                f"{model} {count:g}" for model, count in sorted(epochs.items())) + ")"
            for label, run_epochs in (("50 epochs", 50.0), (finished, epochs)):
                if run_epochs is None:
                    continue
                runs = run_hours(rates, run_epochs)
                for gpus in gpu_counts:
                    for share in sorted({1, best_share}):
                        out.append({"geometry": geometry, "precision": precision,
                                    "steps": steps, "epochs": label,
                                    "grid_epoch_h": per_epoch,
                                    **projection(runs, gpus, share, gain.get(share, 1.0))})
    return out


def _fmt(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def render(record: dict) -> str:
    rows = measured(record["rows"])
    lines = [BEGIN, "", f"## GPU grid — {record['device']} ({record['date']})", "",
             f"Command: `{record['command']}`; torch {record['torch']}, encoder "
             f"{record['encoder']}, random weights, synthetic lesions, the paper's batch "
             f"sizes; {record['steps']} timed steps after {record['warmup']} "
             f"({record['seconds']:.0f} s in all). Raw record: "
             "`benchmarks/results/gpu_grid.json`.", "",
             "### Training steps", "",
             "| model | geometry | precision | steps | train images/s | × eager | first step "
             "(s) | peak memory (GiB) |", "|---|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        eager = next((e for e in rows if e["step"] == "eager" and (
            e["model"], e["geometry"], e["precision"]) == (r["model"], r["geometry"],
                                                           r["precision"])), None)
        ratio = r["train_images_per_s"] / eager["train_images_per_s"] if eager else None
        lines.append(f"| {r['model']} | {r['geometry']} | {r['precision']} | {r['step']} | "
                     f"{r['train_images_per_s']:.1f} | {_fmt(ratio, 2)} | "
                     f"{r['first_step_s']:.1f} | {r['peak_memory_gib']:.2f} |")
    for r in record["rows"]:
        if "failed" in r:
            lines.append(f"| {r['model']} | {r['geometry']} | {r['precision']} | {r['step']} "
                         f"| failed: {r['failed']} | | | |")
    batches = sorted({int(b) for r in rows if r["step"] == "eager"
                      for b in r["eval_images_per_s_by_batch"]})
    lines += ["", "### Validation (`training.validate`, eager network)", "",
              "| model | geometry | precision | " + " | ".join(
                  f"images/s at batch {b}" for b in batches) + " |",
              "|---|---|---|" + "---:|" * len(batches)]
    for r in (r for r in rows if r["step"] == "eager"):
        by_batch = r["eval_images_per_s_by_batch"]
        lines.append(f"| {r['model']} | {r['geometry']} | {r['precision']} | " + " | ".join(
            _fmt(by_batch.get(str(b))) for b in batches) + " |")
    if record["parity"]:
        lines += ["", "### Results unchanged: validation curves against eager steps", "",
                  "Largest difference over the epochs from the eager run (`gpu_parity.py`: "
                  "demo-sized synthetic set, resnet18, compact): relative for the validation "
                  "loss, in Dice points for the Dice.", "",
                  "| model | precision | epochs | fast paths | eager again: loss | fast: loss "
                  "| another seed: loss | eager again: Dice | fast: Dice | another seed: Dice |",
                  "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for p in record["parity"]:
            lines.append(
                f"| {p['model']} | {p['precision']} | {p['epochs']} | {p['fast']} | "
                + " | ".join(f"{p[f'{arm}: {column}']:.2e}" if column == "val_loss"
                             else f"{p[f'{arm}: {column}']:.2f}"
                             for column in ("val_loss", "val_dice")
                             for arm in ("eager again", "fast paths", "eager, another seed"))
                + " |")
    if record["concurrency"]:
        lines += ["", "### Several trainings on one GPU", "",
                  "| how | model | steps | trainings | images/s in all | × one |",
                  "|---|---|---|---:|---:|---:|"]
        for c in record["concurrency"]:
            one = next((o["images_per_s"] for o in record["concurrency"]
                        if (o["how"], o["model"], o["count"]) == (c["how"], c["model"], 1)),
                       None)
            lines.append(f"| {c['how']} | {c['model']} | {c['step']} | {c['count']} | "
                         f"{c['images_per_s']:.1f} | "
                         f"{_fmt(one and c['images_per_s'] / one, 2)} |")
    one_gpu = [p for p in record["projections"] if p["gpus"] == 1 and p["jobs_per_gpu"] == 1]
    if one_gpu:
        lines += ["", "### The paper grid (27 runs) on one GPU", "",
                  "| geometry | precision | steps | hours per grid-epoch | epochs | hours |",
                  "|---|---|---|---:|---|---:|"]
        for p in one_gpu:
            lines.append(f"| {p['geometry']} | {p['precision']} | {p['steps']} | "
                         f"{p['grid_epoch_h']:.3f} | {p['epochs']} | {p['ideal_h']:.2f} |")
        lines += ["", "| geometry | precision | steps | epochs | GPUs | jobs per GPU | "
                  "ideal (h) | bound (h) | by priority (h) | DAG order (h) | "
                  "longest first (h) | efficiency |",
                  "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for p in record["projections"]:
            if p["steps"] == "fastest" and p["epochs"] == "50 epochs":
                lines.append(f"| {p['geometry']} | {p['precision']} | {p['steps']} | "
                             f"{p['epochs']} | {p['gpus']} | {p['jobs_per_gpu']} | "
                             f"{p['ideal_h']:.2f} | {p['bound_h']:.2f} | "
                             f"{p['workflow_order_h']:.2f} | "
                             f"{p['dag_order_h']:.2f} | {p['longest_first_h']:.2f} | "
                             f"{100 * p['efficiency']:.0f} % |")
    lines += ["", *goal_lines(record)]
    if record["skipped"]:
        lines += ["", "Not measured for lack of time: " + "; ".join(record["skipped"]) + "."]
    lines += ["", "Fastest: each model's fastest measured steps and validation batch "
              "(`gpus:` cuda_graphs, fused_pairs, compile, validation_batch_size). "
              "By priority: the order the workflow's job priorities give "
              "(`weaklesion.workflow.resources`, longest expected run first); efficiency: total ÷ "
              "slots against that makespan; bound: what no order beats, the larger of total "
              "÷ slots and the longest run.", "", END]
    return "\n".join(lines) + "\n"


def goal_lines(record: dict) -> list[str]:
    """The performance issue's goals against this run's projections."""
    lines = []
    goals = (("paper", 6.0, "Paper grid, paper geometry, one GPU, 50 epochs"),
             ("compact", 1.0, "Compact geometry, one GPU, 50 epochs"))
    for geometry, bound, goal in goals:
        for p in record["projections"]:
            if (p["geometry"], p["steps"], p["epochs"], p["gpus"], p["jobs_per_gpu"]) == (
                    geometry, "fastest", "50 epochs", 1, 1):
                verdict = "**met**" if p["ideal_h"] <= bound else "not met"
                lines.append(f"- {goal} ({p['precision']}): {p['ideal_h']:.2f} h (goal "
                             f"≤ {bound:g} h), {verdict}.")
    multi = [p for p in record["projections"] if p["gpus"] > 1 and p["steps"] == "fastest"
             and p["epochs"] == "50 epochs" and p["jobs_per_gpu"] == 1]
    if multi:
        worst = min(multi, key=lambda p: p["efficiency"])
        over = max(p["workflow_order_h"] / p["bound_h"] for p in multi) - 1
        lines.append(f"- N GPUs within 10 % of ÷ N (by priority): lowest efficiency "
                     f"{100 * worst['efficiency']:.0f} % ({worst['gpus']} GPUs, "
                     f"{worst['geometry']}, {worst['precision']}), "
                     f"{'**met**' if worst['efficiency'] >= 0.9 else 'not met'}; at most "
                     f"{100 * over:.1f} % over the bound no order beats.")
    for p in record["parity"]:
        floor = max(p["eager again: val_loss"], 1e-12)
        lines.append(f"- Results unchanged ({p['model']}, {p['precision']}): the fast steps' "
                     f"validation loss is within {p['fast paths: val_loss']:.1e} of eager "
                     f"(eager against itself: {p['eager again: val_loss']:.1e}, "
                     f"{p['fast paths: val_loss'] / floor:.1f}× that; another seed: "
                     f"{p['eager, another seed: val_loss']:.1e}).")
    return lines


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


def one_process(args) -> None:
    """One training's images/s as a JSON line (a child of ``processes_sharing``)."""
    fast = FastPaths(cuda_graphs=args.cuda_graphs, fused_pairs=args.fused_pairs,
                     compile=args.compile)
    row = measure(args.models[0], args.geometries[0], args.encoder, args.steps, args.warmup,
                  torch.device(args.device), args.precision[0], fast, eval_batches=())
    print(json.dumps(row))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--encoder", default="resnet101")
    parser.add_argument("--models", nargs="+", default=["A1+L", "ACoseg"],
                        help="A1 is taken at A1+L's rates unless listed (the same network)")
    parser.add_argument("--geometries", nargs="+", default=["paper", "compact"])
    parser.add_argument("--precision", nargs="+", default=["bf16", "fp32"],
                        help="at the first geometry; the others get the first precision")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=8,
                        help="untimed batches first (graphs capture after 3 per pair)")
    parser.add_argument("--eval-batches", type=int, nargs="+", default=[64, 256],
                        help="validation batch sizes beside the default one")
    parser.add_argument("--eval-images", type=int, default=640,
                        help="lesions per timed validation")
    parser.add_argument("--parity-epochs", type=int, default=3)
    parser.add_argument("--parity-lesions", type=int, nargs=2, default=[168, 48],
                        metavar=("TRAIN", "VAL"), help="the demo's split sizes by default")
    parser.add_argument("--parity-precision", nargs="*", default=["fp32", "bf16"])
    parser.add_argument("--sharing", type=int, nargs="*", default=[1, 2, 4],
                        help="process counts sharing one GPU (none: skip)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3],
                        help="seed counts trained in one process (none: skip)")
    parser.add_argument("--sharing-steps", type=int, default=60)
    parser.add_argument("--sharing-timeout-s", type=float, default=150)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--budget-s", type=float, default=450,
                        help="start no part that would not end within this many seconds")
    parser.add_argument("--histories", type=Path, default=DEMO_EPOCHS,
                        help="a finished run's results/ or a JSON of epochs per model "
                             "(default: the demo's, from bench_early_stopping.py)")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks/results/gpu_grid.json")
    parser.add_argument("--document", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--one-process", action="store_true", help=argparse.SUPPRESS)
    for flag in ("--cuda-graphs", "--fused-pairs", "--compile"):
        parser.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict | None:
    args = parse(argv)
    if args.one_process:
        one_process(args)
        return None
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_grid: no CUDA device; nothing to measure", file=sys.stderr)
        raise SystemExit(1)
    started = time.monotonic()
    budget = Budget(args.budget_s)
    record = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "encoder": args.encoder,
        "steps": args.steps, "warmup": args.warmup,
        "command": " ".join(["bash benchmarks/gpu_grid.sh",
                             *(sys.argv[1:] if argv is None else argv)]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": [], "parity": [], "concurrency": [], "skipped": budget.skipped,
        "early_stopping_epochs": early_stopping_epochs(args.histories),
    }

    def save() -> str:
        """The record and the section so far (after every part: a run cut short keeps what
        it measured)."""
        record["seconds"] = time.monotonic() - started
        record["projections"] = projections(record["rows"], record["concurrency"],
                                            record["early_stopping_epochs"])
        section = render(record)
        if not args.no_write:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(record, indent=2) + "\n")
            write_section(args.document, section)
        return section

    combos = [(args.geometries[0], p) for p in args.precision] + [
        (g, args.precision[0]) for g in args.geometries[1:]]
    measure_steps(args, device, budget, combos, record["rows"], save)
    # The paper's precision first; the others' parity after the concurrency.
    record["parity"] += measure_parity(args, device, budget, record["rows"],
                                       args.parity_precision[:1])
    save()
    record["concurrency"] += measure_concurrency(args, device, budget, record["rows"])
    save()
    record["parity"] += measure_parity(args, device, budget, record["rows"],
                                       args.parity_precision[1:])
    save()
    if not args.no_compile:
        measure_steps(args, device, budget, combos[:1], record["rows"], save, compiling=True)
    print(save())
    return record


if __name__ == "__main__":
    main()
