"""Predicting patches with a model file, and scoring the test split with the paper's metrics."""

from __future__ import annotations

import dataclasses
import json
import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import run_rule_script
from training_helpers import (
    SPLIT_SIZES,
    disc,
    save_model,
    split_labels,
    synthetic_lesions,
    tiny_settings,
    write_stage_files,
)

from weaklesion.datasets.patch_store import read_arrays
from weaklesion.errors import WeaklesionError
from weaklesion.evaluation.evaluated_set import EvaluationPlan, evaluation_plan
from weaklesion.evaluation.metrics import METRIC_COLUMNS
from weaklesion.evaluation.predictor import Predictor
from weaklesion.evaluation.run_scoring import score_test_split, summarise, write_evaluation
from weaklesion.models.registry import build_model
from weaklesion.training.checkpoints import save_checkpoint

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def images():
    return synthetic_lesions(5, seed=11).images


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """The same weights saved under three input settings."""
    folder = tmp_path_factory.mktemp("models")
    variants = {
        "rgb": tiny_settings("A1"),
        "bgr": tiny_settings("A1", channel_order="bgr"),
        "paper": tiny_settings("A1", geometry="paper"),
    }
    return {name: save_model(folder / f"{name}.pt", settings)
            for name, settings in variants.items()}


def test_predictor_reads_its_input_settings_from_the_checkpoint(model_files):
    predictor = Predictor(model_files["bgr"], CPU)
    assert (predictor.encoder, predictor.geometry, predictor.channel_order,
            predictor.pad_mode) == ("resnet18", "compact", "bgr", "zero")
    assert predictor.state["epoch"] == 1
    assert not predictor.model.training
    assert Predictor(model_files["paper"], CPU).geometry == "paper"


def input_shapes(predictor: Predictor) -> list[tuple[int, ...]]:
    shapes = []
    predictor.model.register_forward_pre_hook(lambda _, args: shapes.append(args[0].shape))
    return shapes


@pytest.mark.parametrize(("variant", "canvas"), [("rgb", (128, 128)), ("paper", (384, 480))])
def test_predictions_are_patch_masks_whatever_the_canvas(model_files, images, variant, canvas):
    predictor = Predictor(model_files[variant], CPU)
    shapes = input_shapes(predictor)
    probabilities = predictor.probabilities(images[:2])
    masks = predictor.masks(images[:2])
    assert [tuple(s) for s in shapes] == [(2, 3, *canvas)] * 2
    assert probabilities.shape == (2, 120, 120) and probabilities.dtype == np.float32
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert masks.shape == (2, 120, 120) and masks.dtype == bool
    np.testing.assert_array_equal(masks, probabilities >= 0.5)


def test_bgr_checkpoint_is_fed_the_channels_reversed(model_files, images):
    rgb, bgr = Predictor(model_files["rgb"], CPU), Predictor(model_files["bgr"], CPU)
    reversed_channels = np.ascontiguousarray(images[..., ::-1])
    np.testing.assert_array_equal(bgr.probabilities(images), rgb.probabilities(reversed_channels))
    assert not np.array_equal(bgr.probabilities(images), rgb.probabilities(images))


def test_batch_size_does_not_change_predictions(model_files, images):
    predictor = Predictor(model_files["rgb"], CPU)
    whole = predictor.probabilities(images, batch_size=64)
    chunked = predictor.probabilities(images, batch_size=2)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6)


def test_checkpoint_of_another_model_is_refused_naming_the_file(model_files):
    with pytest.raises(WeaklesionError, match="'name' is 'A1' but 'A1\\+L' was expected") as err:
        Predictor(model_files["rgb"], CPU, expect={"name": "A1+L"})
    assert str(model_files["rgb"]) in str(err.value)


def test_checkpoint_without_training_settings_is_refused_naming_the_file(tmp_path):
    bare = tmp_path / "bare.pt"
    model = build_model("A1", encoder="resnet18", encoder_weights=None)
    save_checkpoint(bare, model, epoch=0, extra={})
    with pytest.raises(WeaklesionError, match="training settings") as err:
        Predictor(bare, CPU)
    assert str(bare) in str(err.value)


# --- scoring ----------------------------------------------------------------------------------


def scored_stack():
    """Three test lesions: a perfect prediction, one shifted 3 px right, and an empty one."""
    target = np.stack([disc((40, 50), 12), disc((60, 60), 20), disc((70, 40), 15)])
    predicted = np.stack([target[0], disc((60, 63), 20), np.zeros((120, 120), bool)])
    return target, predicted, np.array(["L1", "L2", "L3"])


def test_score_test_split_gives_the_paper_metrics_per_lesion():
    target, predicted, ids = scored_stack()
    table = score_test_split(predicted, target, ids)
    assert list(table.columns) == ["lesion_id", *METRIC_COLUMNS, "pred_empty", "gt_empty"]
    assert list(table["lesion_id"]) == ["L1", "L2", "L3"]
    perfect, shifted, empty = (table.iloc[i] for i in range(3))
    assert (perfect["iou"], perfect["dice"], perfect["vs"]) == (100, 100, 100)
    assert (perfect["center_error"], perfect["hausdorff"], perfect["perimeter_error"]) == (0, 0, 0)
    overlap = (predicted[1] & target[1]).sum()
    assert shifted["dice"] == pytest.approx(100 * 2 * overlap / (2 * target[1].sum()))
    assert shifted["iou"] == pytest.approx(100 * overlap / (predicted[1] | target[1]).sum())
    assert shifted["vs"] == pytest.approx(100)  # same area, shifted
    assert shifted["center_error"] == pytest.approx(3)
    assert shifted["hausdorff"] == pytest.approx(3)
    # An empty prediction takes the worst error of the set, as in the paper.
    assert (empty["dice"], empty["iou"]) == (0, 0)
    assert empty["center_error"] == shifted["center_error"]
    assert empty["hausdorff"] == shifted["hausdorff"]
    assert list(table["pred_empty"]) == [False, False, True]
    assert not table["gt_empty"].any()


def test_summary_averages_the_metrics_and_counts(tmp_path):
    target, predicted, ids = scored_stack()
    table = score_test_split(predicted, target, ids)
    summary = summarise(table, {"dataset": "demo", "model": "A1", "seed": 0})
    for column in METRIC_COLUMNS:
        assert summary[column] == pytest.approx(table[column].mean())
    assert summary["dice"] == pytest.approx((100 + table["dice"][1] + 0) / 3)
    assert (summary["n_lesions"], summary["n_empty_predictions"]) == (3, 1)
    assert (summary["dataset"], summary["model"], summary["seed"]) == ("demo", "A1", 0)

    metrics, summary_path = tmp_path / "out" / "metrics.parquet", tmp_path / "out" / "s.json"
    predictions = tmp_path / "out" / "p.h5"
    write_evaluation(table, summary, metrics, summary_path, predictions, predicted)
    pd.testing.assert_frame_equal(pd.read_parquet(metrics), table)
    assert json.loads(summary_path.read_text()) == pytest.approx(summary)
    stored = read_arrays(predictions, ["prediction", "lesion_id"])
    np.testing.assert_array_equal(stored["prediction"], predicted)
    assert [i.decode() for i in stored["lesion_id"]] == list(ids)
    assert sorted(p.name for p in metrics.parent.iterdir()) == [
        "metrics.parquet", "p.h5", "s.json"]


def evaluate_with_rule_script(tmp_path, plan: EvaluationPlan, sizes=None, reference="data"):
    """Run workflow_scripts/evaluate_model.py on synthetic stage files; its outputs' folder."""
    sizes = sizes or SPLIT_SIZES
    lesions = synthetic_lesions(sum(sizes.values()), seed=2)
    stage = write_stage_files(tmp_path / "demo", lesions, split_labels(sizes))
    model = save_model(tmp_path / "demo" / "A1" / "seed0" / "model.pt", tiny_settings("A1"))
    run = model.parent
    snakemake = SimpleNamespace(
        input=SimpleNamespace(model=str(model), data=str(stage["data"]),
                              reference=str(stage[reference]), clusters=str(stage["clusters"]),
                              split=str(stage["split"])),
        output=SimpleNamespace(metrics=str(run / "metrics.parquet"),
                               summary=str(run / "summary.json"),
                               predictions=str(run / "test_predictions.h5")),
        log=[str(run / "evaluate.log")],
        params=SimpleNamespace(evaluated=dataclasses.asdict(plan), batch_size=4, device="cpu",
                               expect={"name": "A1", "encoder": "resnet18", "num_clusters": 3}),
        wildcards=SimpleNamespace(dataset="demo", protocol="paper", model="A1", seed="0"),
        threads=1,
        # A machine with one simulated GPU: the job claims it before scoring.
        config={"gpus": {"devices": ["7"], "jobs_per_gpu": 1, "cuda_graphs": False,
                         "lock_dir": str(tmp_path / "gpu-locks")}},
    )
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        run_rule_script("evaluate_model", snakemake)
    finally:  # the claim sets it for the process; give other tests theirs back
        if visible is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = visible
    assert "GPU slot: claimed GPU 7 of 7" in (run / "evaluate.log").read_text()
    return run, split_labels(sizes)


def test_evaluate_rule_script_scores_the_test_split(tmp_path):
    run, labels = evaluate_with_rule_script(tmp_path, EvaluationPlan())
    metrics = pd.read_parquet(run / "metrics.parquet")
    test_ids = [f"LES_{i:04d}" for i, label in enumerate(labels) if label == "test"]
    assert list(metrics["lesion_id"]) == test_ids
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_lesions"] == len(test_ids)
    assert (summary["dataset"], summary["protocol"], summary["model"], summary["seed"]) == (
        "demo", "paper", "A1", 0)
    assert (summary["reference"], summary["split"], summary["selected_epoch"]) == (
        "mask", "test", 1)
    assert summary["dice"] == pytest.approx(metrics["dice"].mean())
    assert "metrics (4 lesions)" in (run / "evaluate.log").read_text()


def test_evaluate_rule_script_scores_only_whole_batches_in_the_listed_order(tmp_path):
    """PROTOCOL item 14: the released test loaders scored whole batches of 8 only."""
    sizes = {"train": 8, "val": 4, "test": 13}
    run, labels = evaluate_with_rule_script(tmp_path, EvaluationPlan(whole_batches_of=8), sizes)
    metrics = pd.read_parquet(run / "metrics.parquet")
    test_ids = [f"LES_{i:04d}" for i, label in enumerate(labels) if label == "test"]
    assert list(metrics["lesion_id"]) == test_ids[:8]
    assert "scoring 8 of the 13 test lesions" in (run / "evaluate.log").read_text()


def test_evaluate_rule_script_on_the_training_split_against_the_targets(tmp_path):
    """The released DeepLesion A1+L: the training loader against the training ellipses."""
    plan = EvaluationPlan(split="train", reference="ellipse")
    run, labels = evaluate_with_rule_script(tmp_path, plan, reference="targets")
    metrics = pd.read_parquet(run / "metrics.parquet")
    assert list(metrics["lesion_id"]) == [f"LES_{i:04d}" for i, label in enumerate(labels)
                                          if label == "train"]
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["split"], summary["reference"]) == ("train", "ellipse")


@pytest.mark.parametrize(("fmt", "model", "expected"), [
    ("ham10000", "A1", EvaluationPlan()),
    ("ham10000", "A1+L", EvaluationPlan()),
    ("ham10000", "ACoseg", EvaluationPlan(whole_batches_of=8)),
    ("demo", "ACoseg", EvaluationPlan(whole_batches_of=8)),
    ("lits", "A1", EvaluationPlan(whole_batches_of=8)),
    ("lits", "A1+L", EvaluationPlan(whole_batches_of=8)),
    ("lits", "ACoseg", EvaluationPlan(whole_batches_of=8)),
    ("deeplesion", "A1", EvaluationPlan(reference="grabcut")),
    ("deeplesion", "ACoseg", EvaluationPlan(reference="grabcut", whole_batches_of=8)),
    ("deeplesion", "A1+L", EvaluationPlan(split="train", reference="ellipse")),
])
def test_paper_protocol_scores_what_the_released_code_scored(fmt, model, expected):
    assert evaluation_plan(fmt, "paper", model) == expected
    corrected = evaluation_plan(fmt, "corrected", model)
    assert corrected == EvaluationPlan(reference="grabcut" if fmt == "deeplesion" else "mask")


@pytest.mark.parametrize(("count", "scored"), [(1002, 1000), (1630, 1624), (16, 16), (5, 5)])
def test_whole_batches_leave_out_the_last_partial_batch(count, scored):
    plan = EvaluationPlan(whole_batches_of=8)
    assert len(range(count)[plan.scored(count)]) == scored
    assert EvaluationPlan().scored(count) == slice(0, count)
