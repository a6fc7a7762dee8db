"""The paper's released checkpoints through the workflow: added to a finished tiny demo run (the
models test's), they are imported, scored on the runs' lesions and tabulated as their own rows,
and nothing else is redone (real Snakemake runs)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from released_helpers import random_model, write_released
from workflow_helpers import (
    MODELS,
    TRAINED_RUN_ARGS,
    copy_tree,
    dry_run,
    run_snakemake,
    tiny_training_config,
    trained_models_run,
    write_config,
)

from weaklesion.evaluation.metrics import PAPER_METRICS

RELEASE_FILES = {"A1": "ham_a1.pt", "A1+L": "ham_a1class.pt", "ACoseg": "ham_coseg.pt"}
RELEASED_ROWS = ["A1 (released)", "ACoseg (released)", "A1+L (released)"]


def released_config(folder: str = "resources/checkpoints") -> dict:
    config = tiny_training_config()
    config["datasets"]["demo"]["released"] = {
        model: f"{folder}/{name}" for model, name in RELEASE_FILES.items()}
    return config


@pytest.fixture(scope="module")
def released(request, tmp_path_factory) -> tuple[Path, object]:
    """The finished demo run with released-layout files (random weights, resnet18, k = 7)
    named in its config: the dry run's plan, then the real run."""
    trained = trained_models_run(request.config, tmp_path_factory)
    workdir = copy_tree(trained, tmp_path_factory.mktemp("released") / "wf")
    folder = workdir / "resources/checkpoints"
    folder.mkdir(parents=True)
    for seed, (model, name) in enumerate(RELEASE_FILES.items()):
        write_released(random_model(model, k=7, seed=seed), folder / name)
    write_config(workdir, released_config())
    plan = dry_run(workdir)
    result = run_snakemake(workdir, "--resources", "gpu=1", *TRAINED_RUN_ARGS, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]
    return workdir, plan


@pytest.mark.slow
def test_adding_released_models_to_a_finished_run_plans_only_their_import_and_evaluation(
        released):
    _, plan = released
    # The tables that show them and the record of the config are written again; nothing
    # of the data, the training or the trained runs' evaluation is.
    assert set(plan.stats) == {"import_released", "evaluate_released", "make_tables",
                               "config_used", "all"}
    assert plan.stats["import_released"] == plan.stats["evaluate_released"] == len(MODELS)
    for job in plan.jobs:
        if job.rule in ("import_released", "evaluate_released"):
            model = job.wildcards["model"]
            assert all(path.startswith(f"results/demo/paper/{model}/released/")
                       for path in job.paths("output")), job


@pytest.mark.slow
def test_released_models_are_scored_on_the_trained_runs_lesions_and_tabulated(released):
    workdir, _ = released
    runs = workdir / "results/demo/paper"
    table = pd.read_csv(workdir / "results/tables/paper_table.csv")
    assert list(table["model"]) == ["A1", "ACoseg", "A1+L", *RELEASED_ROWS]
    for model, name in RELEASE_FILES.items():
        folder = runs / model / "released"
        metrics = pd.read_parquet(folder / "metrics.parquet")
        trained = pd.read_parquet(runs / model / "seed0" / "metrics.parquet")
        assert list(metrics["lesion_id"]) == list(trained["lesion_id"])
        summary = json.loads((folder / "summary.json").read_text())
        release = workdir / "resources/checkpoints" / name
        assert summary["released"] == {
            "file": name, "md5": hashlib.md5(release.read_bytes()).hexdigest(),
            "dataset_format": "demo"}
        assert summary["seed"] is None and summary["selected_epoch"] is None
        row = table[table["model"] == f"{model} (released)"].iloc[0]
        assert row["n_seeds"] == 1
        for metric in PAPER_METRICS:
            assert row[f"{metric}_mean"] == pytest.approx(metrics[metric].mean(), rel=1e-12)
    # A released model is compared with the released A1, not with a trained one.
    by_model = table.set_index("model")
    for label in ("ACoseg (released)", "A1+L (released)"):
        mine, base = by_model.loc[label, "dice_mean"], by_model.loc["A1 (released)", "dice_mean"]
        assert by_model.loc[label, "dice_rel_change"] == pytest.approx((mine - base) / base)
    assert pd.isna(by_model.loc["A1 (released)", "dice_rel_change"])
    markdown = (workdir / "results/tables/paper_table.md").read_text()
    assert "| A1 (released)" in markdown and "the paper's own trained model" in markdown
    log = (runs / "A1" / "released" / "import.log").read_text()
    assert "ham_a1.pt imported" in log
    assert dry_run(workdir).stats == {}


@pytest.mark.slow
def test_a_missing_released_file_stops_the_run_naming_its_key_and_path(released):
    workdir, _ = released
    config_path = workdir / "config" / "config.yaml"
    original = config_path.read_text()
    write_config(workdir, released_config(folder="resources/elsewhere"))
    try:
        result = run_snakemake(workdir, "--dry-run")
    finally:
        config_path.write_text(original)
    assert result.returncode != 0
    assert ("datasets.demo.released.A1: resources/elsewhere/ham_a1.pt is not a file"
            in result.stdout), result.stdout[-3000:]
