"""The whole workflow, training and evaluation included, on a tiny demo (real Snakemake run)."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import cv2
import pandas as pd
import pytest
from browser import screenshot, visible_text
from workflow_helpers import (
    MODELS,
    copy_tree,
    dry_run,
    run_snakemake,
    tiny_training_config,
    trained_models_run,
    write_config,
)

from weaklesion.evaluation.metrics import METRIC_COLUMNS
from weaklesion.training.checkpoints import load_checkpoint

# What `both_protocols` switches on for the protocol it adds (weaklesion.training.fast_paths).
FAST_PATHS = {"fused_pairs": True, "validation_batch_size": 16}


BOTH = ("paper", "corrected")
OBTAIN_AND_LOCATE = {"make_demo_dataset", "verify_archives", "locate_source"}


@pytest.fixture(scope="module")
def trained(request, tmp_path_factory) -> Path:
    return trained_models_run(request.config, tmp_path_factory)


@pytest.fixture(scope="module")
def both_protocols(trained: Path, tmp_path_factory) -> Path:
    """The finished paper run with protocol corrected added, and run."""
    workdir = copy_tree(trained, tmp_path_factory.mktemp("both") / "wf")
    write_config(workdir, tiny_training_config(protocols=BOTH, fast_paths=FAST_PATHS))
    result = run_snakemake(workdir, "--resources", "gpu=1", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


@pytest.mark.slow
def test_every_model_is_trained_and_scored_on_the_test_split(trained: Path):
    split = pd.read_csv(trained / "results/demo/paper/split.csv")
    test_ids = sorted(split.loc[split["split"] == "test", "lesion_id"])
    for model in MODELS:
        run = trained / "results/demo/paper" / model / "seed0"
        metrics = pd.read_parquet(run / "metrics.parquet")
        assert sorted(metrics["lesion_id"]) == test_ids  # 4 test lesions: under one batch
        assert set(METRIC_COLUMNS) <= set(metrics.columns)
        assert metrics[METRIC_COLUMNS].notna().all().all()
        summary = json.loads((run / "summary.json").read_text())
        assert summary["model"] == model and summary["n_lesions"] == len(test_ids)
        assert summary["dice"] == pytest.approx(metrics["dice"].mean())
        history = pd.read_csv(run / "history.csv")
        assert list(history["epoch"]) == [1, 2]
        network, state = load_checkpoint(run / "model.pt", expect={"name": model})
        assert state["extra"]["settings"]["geometry"] == "compact"
        assert (run / "train.log").read_text().count("epoch 2:") == 1
        assert not (run / "checkpoints").exists()


GPU_CLAIM = re.compile(r"^(\S+ \S+) INFO weaklesion: GPU slot: claimed GPU (\d) of 0, 1")


def log_interval(log: Path) -> tuple[str, datetime.datetime, datetime.datetime]:
    """(claimed device, time of the claim, time of the last line) of a GPU job's log."""
    lines = log.read_text().splitlines()
    claim = next(GPU_CLAIM.match(line) for line in lines if GPU_CLAIM.match(line))
    last = max(line[:23] for line in lines if line[:4].isdigit())

    def parse(stamp):
        return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")

    return claim.group(2), parse(claim.group(1)), parse(last)


@pytest.mark.slow
def test_gpu_jobs_running_together_each_have_their_own_gpu(trained: Path):
    runs = trained / "results/demo/paper"
    logs = sorted(runs.glob("*/seed0/train.log")) + sorted(runs.glob("*/seed0/evaluate.log"))
    assert len(logs) == 2 * len(MODELS)
    jobs = [log_interval(log) for log in logs]
    overlapping = 0
    for index, (device, start, end) in enumerate(jobs):
        for other_device, other_start, other_end in jobs[index + 1:]:
            if start < other_end and other_start < end:
                overlapping += 1
                assert device != other_device, f"two jobs ran on GPU {device} at once"
    assert overlapping >= 1  # two at a time: the claims were tested, not just made


@pytest.mark.slow
def test_changing_a_training_setting_reruns_training_only(trained: Path):
    assert dry_run(trained).stats == {}
    config_path = trained / "config" / "config.yaml"
    original = config_path.read_text()
    try:
        write_config(trained, tiny_training_config(epochs=3))
        plan = dry_run(trained)
    finally:
        config_path.write_text(original)
    # Training and what reads its results rerun; no data step, nor the cluster gallery.
    assert set(plan.stats) == {
        "train_model", "evaluate_model", "make_tables", "figure_segmentations",
        "figure_training_curves", "figure_metric_distributions", "compare_models",
        "figure_comparisons", "config_used", "all"}
    assert plan.stats["train_model"] == len(MODELS)


# What reads the runs' results: it is redone whenever a run is added.
GATHERING = {"compare_models", "figure_comparisons", "figure_ablation", "make_tables",
             "config_used", "all"}


@pytest.mark.slow
@pytest.mark.parametrize(("ablations", "stages", "models"), [
    pytest.param({"k": [4]}, {"cluster_ablation", "train_ablation", "evaluate_ablation"},
                 ["A1+L"], id="k"),
    pytest.param({"target": ["grabcut"]}, {"grabcut_targets", "train_ablation",
                                           "evaluate_ablation"}, MODELS, id="target"),
])
def test_an_ablation_runs_only_the_stages_it_affects(trained: Path, ablations, stages,
                                                     models):
    """After a finished default run: k reclusters and retrains A1+L only; a target retrains
    every model on it; nothing of the default runs is redone."""
    config = tiny_training_config()
    config["datasets"]["demo"]["ablations"] = ablations
    write_config(trained, config)
    try:
        plan = dry_run(trained)
    finally:
        write_config(trained, tiny_training_config())
    assert set(plan.stats) - GATHERING == stages
    trained_models = {job.wildcards["model"] for job in plan.jobs
                      if job.rule == "train_ablation"}
    assert trained_models == set(models)
    variant = next(f"{k}-{v[0]}" for k, v in ablations.items())
    for job in plan.jobs:
        if job.rule in stages - {"grabcut_targets"}:
            assert all(f"/ablations/{variant}/" in path for path in job.paths("output")), job
    assert dry_run(trained).stats == {}


@pytest.mark.slow
def test_adding_a_protocol_to_a_finished_run_plans_only_the_new_protocol(trained: Path):
    """Nothing before preprocessing, and nothing of protocol paper, is scheduled again."""
    write_config(trained, tiny_training_config(protocols=BOTH))
    try:
        plan = dry_run(trained)
    finally:
        write_config(trained, tiny_training_config())
    assert not set(plan.stats) & OBTAIN_AND_LOCATE
    assert plan.stats["preprocess"] == 1 and plan.stats["train_model"] == len(MODELS)
    for job in plan.jobs:
        assert job.wildcards.get("protocol", "corrected") == "corrected", job
    assert dry_run(trained).stats == {}


@pytest.mark.slow
def test_switching_fast_paths_on_reruns_nothing(trained: Path):
    """They change how a step is taken, not its numbers beyond rounding: not params. Only
    the record of the config used is written again."""
    write_config(trained, tiny_training_config(fast_paths={**FAST_PATHS, "compile": True,
                                                           "cuda_graphs": True}))
    try:
        assert dry_run(trained).stats == {"config_used": 1, "all": 1}
    finally:
        write_config(trained, tiny_training_config())


@pytest.mark.slow
def test_fast_paths_of_the_config_reach_the_training_jobs(both_protocols: Path):
    runs = both_protocols / "results/demo"
    for model in MODELS:
        assert ("fast paths: fused_pairs, validation batches of 16"
                in (runs / "corrected" / model / "seed0/train.log").read_text())
        # The paper runs were trained before the switches were on, and not again since.
        assert ("fast paths: none (eager steps)"
                in (runs / "paper" / model / "seed0/train.log").read_text())


@pytest.mark.slow
def test_tables_and_figures_are_made_for_both_protocols(both_protocols: Path):
    table = pd.read_csv(both_protocols / "results/tables/paper_table.csv")
    assert list(zip(table["protocol"], table["model"], strict=True)) == [
        (protocol, model) for protocol in BOTH for model in ("A1", "ACoseg", "A1+L")]
    assert set(table["dataset"]) == {"demo"}
    assert (table["n_seeds"] == 1).all() and table["dice_std"].isna().all()
    for protocol in BOTH:
        summary = json.loads(
            (both_protocols / f"results/demo/{protocol}/A1/seed0/summary.json").read_text())
        assert summary["protocol"] == protocol
        row = (table["model"] == "A1") & (table["protocol"] == protocol)
        assert table.loc[row, "dice_mean"].item() == pytest.approx(summary["dice"])
    markdown = (both_protocols / "results/tables/paper_table.md").read_text()
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in markdown.splitlines() if line.startswith("|")]
    assert ["demo", "paper", "A1"] in [row[:3] for row in rows]
    assert ["demo", "corrected", "A1"] in [row[:3] for row in rows]
    assert "published" in (both_protocols / "results/tables/vs_paper.md").read_text()
    comparisons = pd.read_csv(both_protocols / "results/tables/comparisons.csv")
    assert set(comparisons["protocol"]) == set(BOTH)
    assert {(m, b) for m, b in zip(comparisons["model"], comparisons["baseline"],
                                   strict=True)} == {("ACoseg", "A1"), ("A1+L", "A1"),
                                                     ("A1+L", "ACoseg")}
    forest = cv2.imread(str(both_protocols / "results/figures/demo/comparisons.png"))
    assert forest is not None and forest.std() > 10
    for protocol in BOTH:
        for name in ("clusters", "cluster_parameters", "segmentations", "training_curves",
                     "metric_distributions"):
            figure = both_protocols / f"results/figures/demo/{protocol}/{name}"
            png = cv2.imread(str(figure.with_suffix(".png")))
            assert png is not None and png.std() > 10, (protocol, name)
            assert figure.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    # The two protocols' training targets differ (matplotlib vs exact rasters).
    paper, corrected = (both_protocols / f"results/demo/{p}/targets.h5" for p in BOTH)
    assert paper.read_bytes() != corrected.read_bytes()


@pytest.mark.slow
def test_html_report_renders_in_a_browser_with_every_table_and_figure(both_protocols: Path,
                                                                      tmp_path):
    trained = both_protocols
    report = trained / "results/report.html"
    result = run_snakemake(trained, "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    profile = tmp_path / "chromium-profile"
    home = visible_text(report, [], profile)
    assert "Workflow" in home and "Results" in home
    assert "Chu, Li, Vo, Summers, Sizikova" in home  # the workflow description page
    tables = visible_text(report, ["Results", "Tables"], profile)
    assert "paper_table.html" in tables and "vs_paper.html" in tables
    assert "comparisons.html" in tables and "ablations.html" in tables
    assert "comparisons.png" in visible_text(report, ["Results", "Figures", "demo"], profile)
    for protocol in BOTH:
        figures = visible_text(report, ["Results", "Figures", f"demo ({protocol})"], profile)
        for name in ("clusters", "cluster_parameters", "segmentations", "training_curves",
                     "metric_distributions"):
            assert f"{name}.png" in figures, (protocol, name)
    provenance = visible_text(report, ["Results", "Provenance"], profile)
    assert "software_versions.csv" in provenance and "config.yaml" in provenance
    picture = cv2.imread(str(screenshot(report, tmp_path / "report.png", profile)))
    assert picture is not None and picture.std() > 5
