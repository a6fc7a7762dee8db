"""The whole workflow, training and evaluation included, on a tiny demo (real Snakemake run)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
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
    assert set(plan.stats) == {"train_model", "evaluate_model", "all"}
    assert plan.stats["train_model"] == len(MODELS)
