"""The whole workflow, training and evaluation included, on a tiny demo (real Snakemake run)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pandas as pd
import pytest
from browser import screenshot, visible_text
from workflow_helpers import (
    copy_workflow,
    dry_run,
    run_snakemake,
    tiny_demo_config,
    write_config,
)

from weaklesion.checkpoints import load_checkpoint
from weaklesion.metrics import METRIC_COLUMNS

MODELS = ["A1", "A1+L", "ACoseg"]


def tiny_training_config(**train_changes) -> dict:
    config = tiny_demo_config(demo={"n_images": 40, "width": 160, "height": 120})
    config.update(models=MODELS, seeds=[0])
    config["train"] = {"encoder": "resnet18", "encoder_weights": None, "geometry": "compact",
                       "channel_order": "corrected", "epochs": 2, **train_changes}
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("models") / "wf", tiny_training_config())
    result = run_snakemake(workdir, "--resources", "gpu=1", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


@pytest.mark.slow
def test_every_model_is_trained_and_scored_on_the_test_split(trained: Path):
    split = pd.read_csv(trained / "results/demo/split.csv")
    test_ids = sorted(split.loc[split["split"] == "test", "lesion_id"])
    for model in MODELS:
        run = trained / "results/demo" / model / "seed0"
        metrics = pd.read_parquet(run / "metrics.parquet")
        assert sorted(metrics["lesion_id"]) == test_ids
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
        "figure_training_curves", "figure_metric_distributions", "config_used", "all"}
    assert plan.stats["train_model"] == len(MODELS)


@pytest.mark.slow
def test_tables_and_figures_are_made_for_the_configured_runs(trained: Path):
    table = pd.read_csv(trained / "results/tables/paper_table.csv")
    assert list(table["model"]) == ["A1", "ACoseg", "A1+L"]
    assert set(table["dataset"]) == {"demo"}
    assert (table["n_seeds"] == 1).all() and table["dice_std"].isna().all()
    summary = json.loads((trained / "results/demo/A1/seed0/summary.json").read_text())
    assert table.loc[table["model"] == "A1", "dice_mean"].item() == pytest.approx(
        summary["dice"])
    assert "published" in (trained / "results/tables/vs_paper.md").read_text()
    for name in ("clusters", "cluster_parameters", "segmentations", "training_curves",
                 "metric_distributions"):
        png = cv2.imread(str(trained / f"results/figures/demo/{name}.png"))
        assert png is not None and png.std() > 10, name
        assert (trained / f"results/figures/demo/{name}.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.slow
def test_html_report_renders_in_a_browser_with_every_table_and_figure(trained: Path, tmp_path):
    report = trained / "results/report.html"
    result = run_snakemake(trained, "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    profile = tmp_path / "chromium-profile"
    home = visible_text(report, [], profile)
    assert "Workflow" in home and "Results" in home
    assert "Chu, Li, Vo, Summers, Sizikova" in home  # the workflow description page
    tables = visible_text(report, ["Results", "Tables"], profile)
    assert "paper_table.html" in tables and "vs_paper.html" in tables
    figures = visible_text(report, ["Results", "Figures", "demo"], profile)
    for name in ("clusters", "cluster_parameters", "segmentations", "training_curves",
                 "metric_distributions"):
        assert f"{name}.png" in figures, name
    provenance = visible_text(report, ["Results", "Provenance"], profile)
    assert "software_versions.csv" in provenance and "config.yaml" in provenance
    picture = cv2.imread(str(screenshot(report, tmp_path / "report.png", profile)))
    assert picture is not None and picture.std() > 5
