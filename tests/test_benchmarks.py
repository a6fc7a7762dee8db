"""Smoke tests of the CPU benchmark suite: every script runs on a tiny input and reports its
record (command, date, machine, table, targets), and the CPU section of BENCHMARKS.md is
rendered from such records without touching the rest of the document.

Timings are not asserted: the benchmarks measure them (``make bench``).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_archives  # noqa: E402
import bench_dag  # noqa: E402
import bench_datapath  # noqa: E402
import bench_early_stopping  # noqa: E402
import bench_grabcut  # noqa: E402
import bench_memory  # noqa: E402
import bench_metrics  # noqa: E402
import bench_noop  # noqa: E402
import bench_preprocess  # noqa: E402
import bench_rendering  # noqa: E402
import gpu_grid  # noqa: E402
import grid_projection  # noqa: E402
import markdown_section  # noqa: E402
import snakemake_runs  # noqa: E402

# Tiny synthetic datasets: (lesions, width, height) of the HAM10000-layout generator.
TINY = ("6", "64", "48")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """Generated inputs, shared by the benchmarks of this module as make bench shares them."""
    return tmp_path_factory.mktemp("bench-cache")


def run(module, tmp_path: Path, cache: Path, *args: str) -> dict:
    """Run a benchmark's main() with a JSON record; check the record and return it."""
    record_path = tmp_path / "record.json"
    result = module.main([*args, "--json", str(record_path), "--cache", str(cache)])
    record = json.loads(record_path.read_text())
    assert record == json.loads(json.dumps(result.as_dict()))
    assert record["command"].startswith(f".venv/bin/python benchmarks/bench_{record['name']}.py")
    assert "--json" not in record["command"] and "--cache" not in record["command"]
    assert record["date"] and record["machine"]["usable_cores"] >= 1
    assert record["table"] and all(row for row in record["table"])
    assert record["targets"]
    for target in record["targets"]:
        assert math.isfinite(target["measured"])
        assert target["met"] == (target["measured"] >= target["bound"]
                                 if target["higher_is_better"]
                                 else target["measured"] <= target["bound"])
        assert target["verdict"] == "met" if target["met"] else \
            target["verdict"].startswith("not met")
    return record


def goals(record: dict) -> list[str]:
    return [target["goal"] for target in record["targets"]]


def test_metrics_benchmark(tmp_path, cache):
    record = run(bench_metrics, tmp_path, cache, "--lesions", "12", "--repeats", "1")
    assert goals(record) == ["≥ 5,000 lesions/s on one core", "≥ 10× the per-image reference"]
    assert record["numbers"]["lesions"] == 12


def test_dag_benchmark_plans_the_paper_grid(tmp_path, cache):
    record = run(bench_dag, tmp_path, cache, "--repeats", "1")
    # 3 datasets × 2 protocols × 3 models × 3 seeds
    assert record["numbers"]["jobs"]["train_model"] == 3 * 2 * 3 * 3


def test_noop_benchmark_schedules_nothing_after_a_run(tmp_path, cache):
    record = run(bench_noop, tmp_path, cache, "--images", "10", "--repeats", "1",
                 "--targets", "results/demo/archives.tsv")
    assert record["numbers"]["jobs"] == [0]
    assert [t["met"] for t in record["targets"] if t["goal"] == "schedules nothing"] == [True]


def test_preprocess_benchmark_times_all_three_arms(tmp_path, cache):
    record = run(bench_preprocess, tmp_path, cache, "--lesions", TINY[0], "--width", TINY[1],
                 "--height", TINY[2], "--k", "2", "--repeats", "1")
    runs = record["numbers"]["runs"]
    assert set(runs["ours"][0]["seconds"]) == set(bench_preprocess.OUR_STAGES)
    assert runs["ours"][0]["lesions"] == runs["reference"][0]["lesions"] == 6
    assert runs["decode"][0]["files"] == 12  # each image and its mask
    assert len(record["table"]) == 3


def test_archives_benchmark_measures_disk_and_time_of_both_arms(tmp_path, cache):
    record = run(bench_archives, tmp_path, cache, "--dl-archives", "2", "--dl-slices", "10",
                 "--ham-lesions", TINY[0], "--repeats", "1")
    runs = record["numbers"]["runs"]
    assert set(runs) == {"deeplesion", "ham10000"}
    for fmt, arms in runs.items():
        in_place, unpacked = arms["in-place"][0], arms["unpack"][0]
        assert set(in_place["seconds"]) == {"locate", "preprocess"}
        assert set(unpacked["seconds"]) == {"unpack", "locate", "preprocess"}
        assert in_place["lesions"] == unpacked["lesions"] > 0
        # The unpacked copy is the size of the archives' members; reading in place adds none.
        archive_bytes = record["numbers"]["archive_bytes"][fmt]
        assert unpacked["extra_disk"] > 0.5 * archive_bytes
        assert in_place["extra_disk"] < 0.05 * archive_bytes
    assert len(record["targets"]) == 4


def test_grabcut_benchmark(tmp_path, cache):
    record = run(bench_grabcut, tmp_path, cache, "--lesions", TINY[0], "--width", TINY[1],
                 "--height", TINY[2], "--serial", "2")
    assert record["numbers"]["lesions"] == 6 and record["numbers"]["serial_lesions"] == 2
    assert [what for what, _ in record["reported"]][0].startswith("time per lesion")


def test_rendering_benchmark_times_every_released_recipe(tmp_path, cache):
    record = run(bench_rendering, tmp_path, cache, "--count", "2", "--lesions", "4")
    assert [row["recipe"] for row in record["table"]] == ["ham10000", "lits", "deeplesion"]
    assert all(ms > 0 for ms in record["numbers"]["ms_per_lesion"].values())


def test_memory_benchmark_samples_each_stage(tmp_path, cache):
    record = run(bench_memory, tmp_path, cache, "--small", "3", "--large", "4",
                 "--width", TINY[1], "--height", TINY[2], "--stages", "verify", "locate")
    for stages in record["numbers"]["stages"]:
        assert list(stages) == ["verify", "locate"]
        assert all(stage["rss"] >= stage["pss"] > 0 for stage in stages.values())


def test_datapath_benchmark_builds_the_same_batches_as_the_reference(tmp_path, cache):
    record = run(bench_datapath, tmp_path, cache, "--geometries", "compact", "--batch", "2",
                 "--steps", "1", "1", "--warmup", "0", "--lesions", "6", "--batches", "2",
                 "--source", *TINY)
    assert record["numbers"]["compact"]["max_difference"] == 0
    assert goals(record) == ["≤ 2 % of a step outside forward/backward/step (compact)",
                             "≥ 50× the reference per-sample path (compact)"]


# --- BENCHMARKS.md ------------------------------------------------------------------------

GPU_SECTION = "## GPU check — training throughput (2026-11-26)\n\n| model | images/s |\n"


def record(title: str, measured: float) -> dict:
    target = {"goal": "≥ 20×", "measured": measured, "bound": 20, "higher_is_better": True,
              "unit": "×", "why": "the reason", "met": measured >= 20,
              "verdict": "met" if measured >= 20 else "not met: 2.00× short"}
    return {"name": "x", "title": title, "inputs": "tiny", "command": "cmd", "seconds": 1.0,
            "date": "2026-11-27 01:00 UTC", "table": [{"a": 1, "b": "two"}],
            "targets": [target], "reported": [["per lesion", "3 ms"]], "notes": ["a note"],
            "machine": {"cpu": "cpu", "usable_cores": 2, "memory_gib": 8.0, "os": "Linux",
                        "python": "3.11", "numpy": "2", "load_average": [1.0, 1.0, 1.0]}}


def test_markdown_section_lists_every_target_and_why_it_is_missed():
    section = markdown_section.render_section([record("Fast", 25.0), record("Slow", 10.0)],
                                              None)
    assert "| Fast | ≥ 20× | 25.0× | **met** |" in section
    assert "| Slow | ≥ 20× | 10.0× | not met: 2.00× short |" in section
    assert "| Slow | per lesion | 3 ms | reported |" in section
    assert section.count("Why: the reason.") == 1  # only for the missed target
    assert "| a | b |" in section and "| 1 | two |" in section


def test_rewriting_the_cpu_section_keeps_the_gpu_section():
    old = f"# Benchmarks\n\n{GPU_SECTION}\n## Metrics on CPU (old)\n\nold numbers\n"
    first = markdown_section.replace_section(old, markdown_section.render_section(
        [record("Fast", 25.0)], None))
    assert GPU_SECTION in first and "old numbers" not in first
    second = markdown_section.replace_section(first, markdown_section.render_section(
        [record("Slow", 10.0)], None))
    assert GPU_SECTION in second
    assert "| Slow |" in second and "| Fast |" not in second
    assert second.count(markdown_section.BEGIN) == second.count(markdown_section.END) == 1


def test_makespan_hands_each_job_to_the_slot_that_frees_first():
    assert grid_projection.makespan([3, 3, 3], 3) == 3
    assert grid_projection.makespan([1, 1, 4], 2) == 5  # the long job comes last
    assert grid_projection.makespan([4, 1, 1], 2) == 4
    assert grid_projection.makespan([2] * 27, 1) == 54


def test_grid_projection_divides_by_the_gpus_and_charges_sharing():
    rates = {"A1": (100.0, 1000.0), "A1+L": (100.0, 1000.0), "ACoseg": (25.0, 1000.0)}
    runs = grid_projection.run_hours(rates, 10)
    assert len(runs) == 27
    ham_a1 = 10 * (7008 / 100 + 3004 / 1000) / 3600
    assert runs[0] == ("ham10000", "A1", 0, pytest.approx(ham_a1))
    one = grid_projection.projection(runs, 1)
    assert one["ideal_h"] == pytest.approx(sum(r[3] for r in runs)) == one["workflow_order_h"]
    four = grid_projection.projection(runs, 4)
    assert four["ideal_h"] == pytest.approx(one["ideal_h"] / 4)
    assert four["longest_first_h"] <= four["dag_order_h"]
    # The workflow's priorities start DeepLesion's ACoseg runs first.
    assert grid_projection.workflow_order(runs)[0][:2] == ("deeplesion", "ACoseg")
    # Two jobs on a GPU that together run 1.5x as fast as one: the grid takes 1/1.5 as long.
    shared = grid_projection.projection(runs, 1, jobs_per_gpu=2, shared_speedup=1.5)
    assert shared["ideal_h"] == pytest.approx(one["ideal_h"] / 1.5)


def test_grid_projection_tabulates_the_committed_h200_records(tmp_path):
    for name in ("gpu_check_h200.json", "gpu_check_graphs_h200.json"):
        (tmp_path / name).write_bytes((grid_projection.RESULTS / name).read_bytes())
    (tmp_path / "demo_epochs.json").write_text(json.dumps({"A1": 10, "A1+L": 12, "ACoseg": 9}))
    lines = grid_projection.main(["--results", str(tmp_path)])
    # steps (eager, CUDA graphs) × geometry × epochs (50, early stopping), after the header.
    assert len(lines) == 2 + 2 * 2 * 2
    eager = json.loads((tmp_path / "gpu_check_h200.json").read_text())["rows"]
    rates = grid_projection.recorded_rates(eager, "paper", None)
    assert rates["A1"] == (eager[0]["train_images_per_s"], rates["A1+L"][1])
    one_gpu = sum(run[3] for run in grid_projection.run_hours(rates, 50))
    assert lines[2].startswith(f"| eager | paper | 50 | {one_gpu:.1f} | ")
    stopped = sum(run[3] for run in grid_projection.run_hours(
        rates, {"A1": 10, "A1+L": 12, "ACoseg": 9}))
    assert lines[3].startswith(f"| eager | paper | A1 10, A1+L 12, ACoseg 9 | {stopped:.1f} | ")
    assert all(line.startswith("| CUDA graphs |") for line in lines[6:])


def step_row(model: str, step: str, rate: float, validation: dict[str, float],
             geometry: str = "paper", precision: str = "bf16") -> dict:
    """A measured row as gpu_check.measure writes it."""
    return {"model": model, "geometry": geometry, "precision": precision, "step": step,
            "cuda_graphs": "CUDA graph" in step, "fused_pairs": "fused" in step,
            "compile": "compile" in step, "batch": 8 if model == "ACoseg" else 10,
            "train_images_per_s": rate, "eval_images_per_s": next(iter(validation.values())),
            "eval_images_per_s_by_batch": validation, "first_step_s": 1.0,
            "peak_memory_gib": 2.0, "step_ms": 50.0, "encoder": "resnet101"}


def test_gpu_grid_projects_eager_and_fastest_steps_and_renders_every_part(tmp_path):
    rows = [step_row("A1+L", "eager", 200.0, {"10": 600.0, "64": 1500.0, "256": 1800.0}),
            step_row("A1+L", "CUDA graph", 400.0, {"64": 1500.0}),
            step_row("ACoseg", "eager", 40.0, {"8": 500.0, "64": 1400.0, "256": 1600.0}),
            step_row("ACoseg", "CUDA graph", 120.0, {"64": 1400.0}),
            step_row("ACoseg", "fused + CUDA graph", 160.0, {"64": 1400.0}),
            {"model": "ACoseg", "geometry": "paper", "precision": "bf16",
             "step": "fused_pairs, compile", "failed": "RuntimeError('no triton')"}]
    concurrency = [{"how": "processes", "model": "ACoseg", "step": "fused + CUDA graph",
                    "count": 1, "images_per_s": 160.0},
                   {"how": "processes", "model": "ACoseg", "step": "fused + CUDA graph",
                    "count": 2, "images_per_s": 240.0},
                   {"how": "seeds in one process", "model": "ACoseg",
                    "step": "fused + CUDA graph", "count": 2, "images_per_s": 300.0}]
    histories = tmp_path / "results"
    for model, epochs in (("A1", 12), ("A1+L", 20), ("ACoseg", 8)):
        history = histories / "demo" / "paper" / model / "seed0" / "history.csv"
        history.parent.mkdir(parents=True)
        history.write_text("epoch,loss\n" + "".join(f"{e},1\n" for e in range(1, epochs + 1)))
    epochs = gpu_grid.early_stopping_epochs(histories)
    assert epochs == {"A1": 12, "A1+L": 20, "ACoseg": 8}
    saved = tmp_path / "epochs.json"
    saved.write_text(json.dumps(epochs))
    assert gpu_grid.early_stopping_epochs(saved) == epochs

    projected = gpu_grid.projections(rows, concurrency, epochs, gpu_counts=(1, 4))
    # eager and fastest x 2 epoch settings x 2 GPU counts x 1 and 2 jobs per GPU (faster).
    assert len(projected) == 16
    one = {(p["steps"], p["epochs"]): p for p in projected
           if p["gpus"] == 1 and p["jobs_per_gpu"] == 1}
    eager, fastest = one["eager", "50 epochs"], one["fastest", "50 epochs"]
    # Eager: training at 200 / 40 images/s, validation at the default batch (600 / 500).
    grid = grid_projection.run_hours({"A1": (200.0, 600.0), "A1+L": (200.0, 600.0),
                                      "ACoseg": (40.0, 500.0)}, 50)
    assert eager["ideal_h"] == pytest.approx(sum(r[3] for r in grid))
    # Fastest: 400 / 160 images/s, validation at the fastest batch (1800 / 1600).
    grid = grid_projection.run_hours({"A1": (400.0, 1800.0), "A1+L": (400.0, 1800.0),
                                      "ACoseg": (160.0, 1600.0)}, 50)
    assert fastest["ideal_h"] == pytest.approx(sum(r[3] for r in grid))
    assert fastest["grid_epoch_h"] == pytest.approx(fastest["ideal_h"] / 50)

    record = {"device": "test GPU", "date": "today", "command": "bash benchmarks/gpu_grid.sh",
              "torch": "x", "encoder": "resnet101", "steps": 1, "warmup": 0, "seconds": 9.0,
              "rows": rows, "concurrency": concurrency, "projections": projected,
              "skipped": ["A1+L paper bf16 compile"],
              "parity": [{"model": "ACoseg", "precision": "fp32", "epochs": 3,
                          "fast": "cuda_graphs, fused_pairs, validation batches of 256",
                          "eager again: val_loss": 2e-5, "fast paths: val_loss": 4e-5,
                          "eager, another seed: val_loss": 3e-2, "eager again: val_dice": 0.1,
                          "fast paths: val_dice": 0.2, "eager, another seed: val_dice": 4.0}]}
    document = tmp_path / "BENCHMARKS.md"
    document.write_text("# Benchmarks\n\nintro\n\n## GPU check\n\nold figures\n")
    gpu_grid.write_section(document, gpu_grid.render(record))
    gpu_grid.write_section(document, gpu_grid.render(record))  # replaced, not added again
    text = document.read_text()
    assert text.count(gpu_grid.BEGIN) == 1 and "## GPU check\n\nold figures" in text
    assert text.index("intro") < text.index(gpu_grid.BEGIN) < text.index("## GPU check")
    assert "| ACoseg | paper | bf16 | fused + CUDA graph | 160.0 | 4.00 |" in text
    assert "failed: RuntimeError('no triton')" in text
    assert "| ACoseg | paper | bf16 | 500.0 | – | 1,400.0 | 1,600.0 |" in text
    assert "| processes | ACoseg | fused + CUDA graph | 2 | 240.0 | 1.50 |" in text
    assert "within 4.0e-05 of eager (eager against itself: 2.0e-05, 2.0× that" in text
    assert f"Paper grid, paper geometry, one GPU, 50 epochs (bf16): {fastest['ideal_h']:.2f} h" \
        in text
    assert "Not measured for lack of time: A1+L paper bf16 compile." in text
    assert "| epochs early stopping took (A1 12, A1+L 20, ACoseg 8) |" in text
    multi = [p for p in projected if p["gpus"] > 1 and p["steps"] == "fastest"
             and p["epochs"] == "50 epochs" and p["jobs_per_gpu"] == 1]
    over = max(p["workflow_order_h"] / p["bound_h"] for p in multi) - 1
    assert all(p["bound_h"] >= p["ideal_h"] for p in projected)
    assert f"at most {100 * over:.1f} % over the bound no order beats." in text


def test_gpu_grid_skips_every_part_that_its_budget_leaves_no_time_for(tmp_path):
    record = gpu_grid.main(["--device", "cpu", "--budget-s", "0", "--json",
                            str(tmp_path / "grid.json"), "--document",
                            str(tmp_path / "BENCHMARKS.md"), "--histories", str(tmp_path)])
    assert record["rows"] == [] and record["parity"] == [] and record["concurrency"] == []
    assert "A1+L paper bf16 none (eager steps)" in record["skipped"]
    assert "ACoseg: processes sharing one GPU" in record["skipped"]
    assert json.loads((tmp_path / "grid.json").read_text())["skipped"] == record["skipped"]
    assert "Not measured for lack of time" in (tmp_path / "BENCHMARKS.md").read_text()


def test_gpu_grid_runs_every_part_end_to_end_on_the_cpu(tmp_path):
    """Tiny sizes: the steps, validation, parity and concurrency code paths all run (the
    CUDA graph and compile rows need a GPU and time; the training tests cover them)."""
    record = gpu_grid.main([
        "--device", "cpu", "--encoder", "resnet18", "--steps", "1", "--warmup", "0",
        "--geometries", "compact", "--precision", "fp32", "--eval-batches", "4",
        "--eval-images", "8", "--parity-epochs", "1", "--parity-precision", "fp32",
        "--parity-lesions", "10", "4", "--sharing", "2", "--seeds", "2",
        "--sharing-steps", "1", "--no-compile", "--histories", str(tmp_path),
        "--json", str(tmp_path / "grid.json"), "--document", str(tmp_path / "BENCHMARKS.md")])
    assert [(r["model"], r["step"]) for r in record["rows"]] == [
        ("A1+L", "eager"), ("ACoseg", "eager"), ("ACoseg", "fused")]
    assert all(r["train_images_per_s"] > 0 for r in record["rows"])
    assert set(record["rows"][0]["eval_images_per_s_by_batch"]) == {"10", "4"}
    assert [p["model"] for p in record["parity"]] == ["A1+L", "ACoseg"]
    for p in record["parity"]:  # the CPU is deterministic: the same curves
        assert p["eager again: val_loss"] == 0 and len(p["curves"]["fast paths"]["val_loss"]) == 1
    assert [(c["how"], c["model"], c["count"]) for c in record["concurrency"]] == [
        ("processes", "ACoseg", 2), ("seeds in one process", "ACoseg", 2),
        ("processes", "A1+L", 2), ("seeds in one process", "A1+L", 2)]
    assert all(len(c["per_training"]) == 2 for c in record["concurrency"]
               if c["how"] == "processes")
    assert {p["steps"] for p in record["projections"]} == {"eager", "fastest"}
    assert record["skipped"] == []
    written = json.loads((tmp_path / "grid.json").read_text())
    assert written["rows"] == json.loads(json.dumps(record["rows"]))
    assert gpu_grid.BEGIN in (tmp_path / "BENCHMARKS.md").read_text()


def test_early_stopping_benchmark_reads_each_run_by_its_schedules_monitor(tmp_path):
    config = bench_early_stopping.paper_schedule_config([0, 1])
    assert config["protocols"] == ["paper"] and "epochs" not in config["train"]
    assert all("ablations" not in dataset for dataset in config["datasets"].values())
    targets = bench_early_stopping.history_targets(config)
    assert len(targets) == 3 * 2
    # A finished run in the benchmark's cache: histories as training writes them. A1's
    # monitor is the mask loss, ACoseg's the whole validation loss.
    folder = snakemake_runs.run_folder(tmp_path / "cache", "early-stopping", config, targets)
    columns = ["epoch", "train_loss", "train_mask_loss", "train_cluster_loss", "val_loss",
               "val_mask_loss", "val_cluster_loss", "val_dice", "seconds"]
    for target in targets:
        epochs = {"A1": 9, "A1+L": 12, "ACoseg": 49}[target.split("/")[3]] + target.count("seed1")
        rows = [[e, 1, 1, 0, abs(e - 3), abs(e - 4), 0, 50, 1]
                for e in range(1, epochs + 1)]
        history = folder / "wf" / target
        history.parent.mkdir(parents=True)
        history.write_text("\n".join(",".join(map(str, row)) for row in [columns, *rows]))
    (folder / "complete").write_text("3600.0\n")
    saved = tmp_path / "demo_epochs.json"
    result = bench_early_stopping.main(["--seeds", "0", "1", "--cache", str(tmp_path / "cache"),
                                        "--epochs-record", str(saved)])
    by_run = {(r["model"], r["seed"]): r for r in result.table}
    assert by_run["A1", "0"]["epochs"] == 9 and by_run["A1", "1"]["epochs"] == 10
    assert by_run["A1", "0"]["best epoch"] == 4  # lowest val_mask_loss
    assert by_run["ACoseg", "0"]["best epoch"] == 3  # lowest val_loss
    assert by_run["ACoseg", "1"]["cap"] == 50
    assert json.loads(saved.read_text()) == {"A1": 9.5, "A1+L": 12.5, "ACoseg": 49.5}
    assert gpu_grid.early_stopping_epochs(saved) == {"A1": 9.5, "A1+L": 12.5, "ACoseg": 49.5}
    assert ("runs stopped before the cap", "5 of 6") in result.reported
