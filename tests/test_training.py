"""Training: losses fall, what a run writes, early stopping, model selection, resuming."""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO_ROOT, TESTS_DIR
from training_helpers import (
    SPLIT_SIZES,
    initial_state,
    split_labels,
    subset,
    synthetic_lesions,
    synthetic_splits,
    tiny_settings,
    update_difference,
    write_stage_files,
)

import weaklesion.training.loop as training_loop
from weaklesion.errors import ConfigError, WeaklesionError
from weaklesion.models.registry import build_model
from weaklesion.splits.arrays import LesionArrays, load_splits
from weaklesion.training.checkpoints import load_checkpoint
from weaklesion.training.fast_paths import EAGER, FastPaths, split_gpu_config
from weaklesion.training.fused_passes import pair_outputs
from weaklesion.training.loop import run_fingerprint, train
from weaklesion.training.precision import autocast, pick_device
from weaklesion.training.settings import keeps_best, settings_from_config
from weaklesion.training.steps import (
    Batches,
    mask_loss_scale,
    optimiser_step,
    step_terms,
    validate,
)

CPU = torch.device("cpu")
MODELS = ("A1", "A1+L", "ACoseg")
# ACoseg at the paper's rate and clipping; a batch of 8 is two pair steps of 4.
ACOSEG_SCHEDULE = {"lr": 1e-5, "batch_size": 8, "grad_clip": 0.05, "monitor": "val_loss"}
STAGE_FILES = ("data.h5", "targets.h5", "clusters.parquet", "split.csv")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Threads only slow tiny convolutions down on a busy 2-core runner. Training with
    # deterministic=True switches a process-wide torch flag; put it back for other modules.
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark = torch.backends.cudnn.benchmark
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cudnn.benchmark = benchmark


def run(settings, splits, out: Path, fingerprint: str = "test-run",
        fast: FastPaths = EAGER) -> pd.DataFrame:
    return train(settings, splits, out_model=out / "model.pt", out_history=out / "history.csv",
                 checkpoint_dir=out / "checkpoints", fingerprint=fingerprint, device=CPU,
                 fast=fast)


def model_settings(model: str, **changes):
    schedule = {**(ACOSEG_SCHEDULE if model == "ACoseg" else {}), **changes.pop("schedule", {})}
    return tiny_settings(model, schedule=schedule, **changes)


def revalidate(model_path: Path, settings, val: LesionArrays) -> dict[str, float]:
    """Validation metrics of the weights stored in ``model_path``, computed afresh."""
    model, _ = load_checkpoint(model_path)
    return validate(model, settings, Batches(val, settings, CPU),
                    mask_loss_scale(settings.geometry), 8)


def loss_columns(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns="seconds")


@pytest.fixture(scope="module")
def splits():
    return synthetic_splits()


@pytest.fixture(scope="module")
def runs(splits, tmp_path_factory):
    """One two-epoch run per model on the synthetic discs."""
    result = {}
    for model in MODELS:
        out = tmp_path_factory.mktemp(model.replace("+", "L"))
        settings = model_settings(model)
        result[model] = settings, out, run(settings, splits, out)
    return result


@pytest.mark.parametrize("model", MODELS)
def test_training_lowers_the_training_loss(runs, model):
    _, _, history = runs[model]
    assert list(history["epoch"]) == [1, 2]
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    if model == "A1+L":
        assert history["train_cluster_loss"].iloc[-1] < history["train_cluster_loss"].iloc[0]


@pytest.mark.parametrize("model", MODELS)
def test_history_file_has_every_loss_term_and_validation_metric(runs, model):
    _, out, returned = runs[model]
    history = pd.read_csv(out / "history.csv")
    terms = ["loss", "mask_loss", "cluster_loss"] if model == "A1+L" else ["loss", "mask_loss"]
    expected = (["epoch"] + [f"train_{t}" for t in terms] + [f"val_{t}" for t in terms]
                + ["val_dice", "seconds"])
    assert list(history.columns) == expected
    pd.testing.assert_frame_equal(history, returned, check_exact=False, rtol=1e-12)
    assert (history["seconds"] > 0).all()
    assert history["val_dice"].between(0, 100).all()
    for split in ("train", "val"):
        total = history[f"{split}_mask_loss"]
        if model == "A1+L":
            total = total + history[f"{split}_cluster_loss"]
        # Terms are float32 per step, averaged in float64.
        np.testing.assert_allclose(history[f"{split}_loss"], total, rtol=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_model_file_loads_with_its_settings_and_the_best_epoch(runs, splits, model):
    settings, out, history = runs[model]
    network, state = load_checkpoint(out / "model.pt", expect={"name": model,
                                                               "encoder": "resnet18"})
    assert network.config["name"] == model
    extra = state["extra"]
    assert extra["settings"] == settings.as_dict()
    assert extra["fingerprint"] == "test-run"
    assert extra["epochs_run"] == 2
    monitor = history[settings.schedule.monitor]
    best = int(history["epoch"][monitor.idxmax() if monitor.name == "val_dice"
                                else monitor.idxmin()])
    assert state["epoch"] == extra["selected_epoch"] == extra["best_epoch"] == best
    # The stored weights are that epoch's: validating them gives the history's numbers.
    again = revalidate(out / "model.pt", settings, splits["val"])
    row = history.iloc[best - 1]
    for column in ("val_loss", "val_mask_loss", "val_dice"):
        assert again[column] == pytest.approx(row[column], rel=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_checkpoint_directory_is_removed_after_success(runs, model):
    _, out, _ = runs[model]
    assert not (out / "checkpoints").exists()
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "model.pt"]


def inverted_validation(splits):
    """Validation targets that are the complement of the discs: once the model has learnt
    something of the training targets, its validation loss rises, so early stopping acts."""
    val = splits["val"]
    return {**splits, "val": LesionArrays(val.lesion_ids, val.images, ~val.masks, val.clusters)}


@pytest.fixture(scope="module")
def early_stops(splits, tmp_path_factory):
    diverging = inverted_validation(splits)
    best = model_settings("A1", selection="best", schedule={"epochs": 6, "patience": 1})
    stop = model_settings("A1", selection="stop", schedule={"epochs": 6, "patience": 2})
    out_best, out_stop = tmp_path_factory.mktemp("best"), tmp_path_factory.mktemp("stop")
    return (diverging, (best, out_best, run(best, diverging, out_best)),
            (stop, out_stop, run(stop, diverging, out_stop)))


def test_released_ham_a1l_selection_keeps_the_last_epoch_after_an_early_stop(
        early_stops, tmp_path):
    """PROTOCOL item 13: on an early stop the released HAM10000 A1+L overwrote its best
    checkpoint with the last epoch's model; without an early stop the best one stays."""
    diverging = early_stops[0]
    released = model_settings("A1", selection="last_after_early_stop",
                              schedule={"epochs": 6, "patience": 1})
    history = run(released, diverging, tmp_path / "stopped")
    _, state = load_checkpoint(tmp_path / "stopped" / "model.pt")
    assert list(history["epoch"]) == [1, 2, 3]  # improved at 2, stopped after 3
    assert state["epoch"] == 3 and state["extra"]["best_epoch"] == 2
    # The same run with today's rule (best) keeps epoch 2, as the early_stops fixture shows.
    _, best_state = load_checkpoint(early_stops[1][1] / "model.pt")
    assert best_state["epoch"] == 2
    # Without an early stop the released rule keeps the best epoch.
    full = model_settings("A1", selection="last_after_early_stop",
                          schedule={"epochs": 3, "patience": 5})
    run(full, diverging, tmp_path / "full")
    _, state = load_checkpoint(tmp_path / "full" / "model.pt")
    assert state["extra"]["epochs_run"] == 3 and state["epoch"] == state["extra"]["best_epoch"]


@pytest.mark.parametrize(("selection", "stopped_early", "best"), [
    ("best", True, True), ("best", False, True), ("stop", True, False), ("stop", False, False),
    ("last_after_early_stop", True, False), ("last_after_early_stop", False, True),
])
def test_keeps_best(selection, stopped_early, best):
    assert keeps_best(selection, stopped_early) is best


def test_unknown_selection_or_precision_names_the_key():
    with pytest.raises(ConfigError, match=r"train\.selection = 'latest'"):
        keeps_best("latest", True)
    with pytest.raises(ConfigError, match=r"train\.precision = 'fp16'"):
        autocast(CPU, "fp16")


def test_released_acoseg_adds_every_step_to_the_gradient_before_clipping():
    """PROTOCOL item 11: the released ACoseg never zeroed its gradients. Two steps on a
    linear model: with accumulation the second step's gradient is the clipped first one plus
    the second's own (then clipped); without, the second's own only."""
    torch.manual_seed(0)
    inputs = [torch.randn(4, 3), torch.randn(4, 3)]

    def two_steps(accumulate: bool):
        torch.manual_seed(1)
        model = torch.nn.Linear(3, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # weights stay: grads compare
        for x in inputs:
            optimiser_step(model, optimizer, lambda x=x: {"loss": model(x).square().sum()},
                           grad_clip=0.05, accumulate_gradients=accumulate)
        return model, [p.grad.clone() for p in model.parameters()]

    def clipped(grads, limit=0.05):
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        return [g * min(1.0, limit / (norm + 1e-6)) for g in grads]

    model, _ = two_steps(False)
    own = []
    for x in inputs:
        model.zero_grad()
        model(x).square().sum().backward()
        own.append([p.grad.clone() for p in model.parameters()])
    _, zeroed = two_steps(False)
    _, accumulated = two_steps(True)
    for found, expected in zip(zeroed, clipped(own[1]), strict=True):
        torch.testing.assert_close(found, expected)
    summed = [a + b for a, b in zip(clipped(own[0]), own[1], strict=True)]
    for found, expected in zip(accumulated, clipped(summed), strict=True):
        torch.testing.assert_close(found, expected)


def test_released_acoseg_training_never_zeroes_its_gradients(splits, tmp_path, monkeypatch):
    calls = []
    original = torch.optim.Adam.zero_grad
    monkeypatch.setattr(torch.optim.Adam, "zero_grad",
                        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    released = model_settings("ACoseg", accumulate_gradients=True, schedule={"epochs": 1})
    run(released, splits, tmp_path / "released")
    assert calls == []
    run(model_settings("ACoseg", schedule={"epochs": 1}), splits, tmp_path / "zeroed")
    assert len(calls) == 2  # 8 training lesions: one batch of 8, two pair steps
    weights = [load_checkpoint(tmp_path / name / "model.pt")[0].state_dict()
               for name in ("released", "zeroed")]
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize(("protocol", "fmt", "model", "expected"), [
    ("paper", "ham10000", "A1+L", dict(channel_order="bgr", pad_mode="reflect",
                                       selection="last_after_early_stop",
                                       accumulate_gradients=False)),
    ("paper", "demo", "ACoseg", dict(channel_order="bgr", pad_mode="reflect", selection="best",
                                     accumulate_gradients=True)),
    ("paper", "lits", "A1+L", dict(channel_order="rgb", pad_mode="reflect", selection="best",
                                   accumulate_gradients=False)),
    ("corrected", "ham10000", "A1+L", dict(channel_order="rgb", pad_mode="zero",
                                           selection="best", accumulate_gradients=False)),
    ("corrected", "deeplesion", "ACoseg", dict(channel_order="rgb", pad_mode="zero",
                                               selection="best", accumulate_gradients=False)),
])
def test_settings_follow_the_runs_protocol(protocol, fmt, model, expected):
    train_config = {"encoder": "resnet18", "geometry": "compact", "deterministic": False,
                    "channel_order": "protocol", "pad_mode": "protocol",
                    "selection": "protocol", "precision": "fp32"}
    settings = settings_from_config(model=model, seed=0, weights_file=None,
                                    dataset={"format": fmt, "k": 3, "protocol": protocol},
                                    train_config=train_config)
    assert {key: getattr(settings, key) for key in expected} == expected
    assert (settings.protocol, settings.precision) == (protocol, "fp32")
    # A value other than "protocol" applies to both protocols.
    forced = settings_from_config(
        model=model, seed=0, weights_file=None,
        dataset={"format": fmt, "k": 3, "protocol": protocol},
        train_config={**train_config, "pad_mode": "zero", "selection": "stop",
                      "channel_order": "corrected", "precision": "bf16"})
    assert (forced.pad_mode, forced.selection, forced.channel_order, forced.precision) == (
        "zero", "stop", "rgb", "bf16")


def test_early_stopping_honours_the_patience(early_stops):
    _, (_, _, patience1), (_, _, patience2) = early_stops
    # The seeded run improves once (epoch 2), then only gets worse.
    losses = patience2["val_mask_loss"].to_numpy()
    assert losses[1] < losses[0] and losses[2] > losses[1] and losses[3] > losses[1]
    # Patience 1: the first epoch without improvement ends the run; patience 2: the second.
    assert list(patience1["epoch"]) == [1, 2, 3]
    assert list(patience2["epoch"]) == [1, 2, 3, 4]
    # Patience and selection do not change what is trained.
    pd.testing.assert_frame_equal(loss_columns(patience2).iloc[:3], loss_columns(patience1))


def test_selection_best_keeps_the_best_epoch_and_stop_the_last(early_stops):
    diverging, (best, out_best, history_best), (stop, out_stop, history_stop) = early_stops
    _, state = load_checkpoint(out_best / "model.pt")
    assert state["epoch"] == state["extra"]["best_epoch"] == 2
    assert state["extra"]["epochs_run"] == 3
    again = revalidate(out_best / "model.pt", best, diverging["val"])
    assert again["val_mask_loss"] == pytest.approx(history_best["val_mask_loss"].iloc[1],
                                                   rel=1e-6)

    _, state = load_checkpoint(out_stop / "model.pt")
    assert state["epoch"] == 4 and state["extra"]["best_epoch"] == 2
    again = revalidate(out_stop / "model.pt", stop, diverging["val"])
    assert again["val_mask_loss"] == pytest.approx(history_stop["val_mask_loss"].iloc[3],
                                                   rel=1e-6)


@pytest.mark.parametrize(("model", "batch_size", "n_train"), [
    ("A1", 10, 8), ("A1+L", 5, 4), ("ACoseg", 8, 3),
])
def test_training_set_smaller_than_a_batch_is_a_config_error(splits, tmp_path, model,
                                                              batch_size, n_train):
    small = {**splits, "train": subset(splits["train"], slice(0, n_train))}
    settings = model_settings(model, schedule={"batch_size": batch_size})
    with pytest.raises(ConfigError, match=rf"only {n_train} training lesions.*train\.batch_size"):
        run(settings, small, tmp_path)
    assert not (tmp_path / "model.pt").exists()


def test_divergence_stops_training_naming_the_learning_rate(splits, tmp_path):
    settings = model_settings("A1", schedule={"lr": 1e12})
    with pytest.raises(WeaklesionError, match=r"diverged at epoch 1 \(training loss nan\)"
                                              r".*train\.lr"):
        run(settings, splits, tmp_path)
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "history.csv").exists()


def test_empty_validation_split_is_a_config_error(splits, tmp_path):
    empty = {**splits, "val": subset(splits["val"], slice(0, 0))}
    with pytest.raises(ConfigError, match="validation split is empty"):
        run(model_settings("A1"), empty, tmp_path)


def test_checkpoint_of_other_settings_is_ignored_and_of_the_same_run_resumed(
        runs, splits, tmp_path, monkeypatch, caplog):
    caplog.set_level("INFO", logger="weaklesion.training")
    other = model_settings("A1", seed=1, schedule={"epochs": 1})
    # Keep the other run's checkpoints, as a run killed just before its end would.
    with monkeypatch.context() as patch:
        patch.setattr(training_loop.shutil, "rmtree", lambda *args, **kwargs: None)
        other_history = run(other, splits, tmp_path / "other", fingerprint="other-run")
    assert (tmp_path / "other" / "checkpoints" / "last.pt").exists()
    shutil.copytree(tmp_path / "other" / "checkpoints", tmp_path / "this" / "checkpoints")

    # Another run finds it in its checkpoint folder: it is ignored, not resumed.
    this = model_settings("A1", seed=0, schedule={"epochs": 1})
    history = run(this, splits, tmp_path / "this", fingerprint="this-run")
    assert "ignoring" in caplog.text and "resumed from" not in caplog.text
    # Its first epoch is that of a fresh seed-0 run (the module's A1 run), not the other's.
    pd.testing.assert_frame_equal(loss_columns(history), loss_columns(runs["A1"][2]).iloc[:1])
    assert not loss_columns(history).equals(loss_columns(other_history))
    assert not (tmp_path / "this" / "checkpoints").exists()

    # The same run takes its checkpoint up: it was finished, so nothing is left to train.
    caplog.clear()
    resumed = run(other, splits, tmp_path / "other", fingerprint="other-run")
    assert "resumed from" in caplog.text and "ignoring" not in caplog.text
    assert not re.search(r"^epoch \d+:", caplog.text, re.M)
    pd.testing.assert_frame_equal(resumed, other_history)
    assert not (tmp_path / "other" / "checkpoints").exists()


def test_fingerprint_follows_settings_and_inputs(tmp_path):
    lesions = synthetic_lesions(6)
    paths = write_stage_files(tmp_path, lesions, ["train"] * 4 + ["val", "test"])
    inputs = [paths[k] for k in ("data", "targets", "clusters", "split")]
    settings = tiny_settings("A1")
    first = run_fingerprint(settings, inputs)
    assert run_fingerprint(tiny_settings("A1"), inputs) == first
    assert run_fingerprint(tiny_settings("A1", seed=1), inputs) != first
    assert run_fingerprint(tiny_settings("A1", schedule={"lr": 1e-4}), inputs) != first
    paths["split"].write_text(paths["split"].read_text().replace(",val\n", ",train\n"))
    assert run_fingerprint(settings, inputs) != first


def test_pick_device():
    assert pick_device("cpu") == CPU
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"train\.device = 'cuda:0'"):
            pick_device("cuda:0")


# --- load_splits ------------------------------------------------------------------------------


@pytest.fixture
def stage(tmp_path):
    lesions = synthetic_lesions(12, seed=3)
    # Interleaved, so that a split read in the wrong order would be caught.
    labels = ["train", "val", "train", "test", "train", "train",
              "val", "train", "test", "train", "train", "val"]
    return lesions, labels, write_stage_files(tmp_path, lesions, labels)


def test_load_splits_gives_aligned_arrays_per_split(stage):
    lesions, labels, paths = stage
    splits = load_splits(paths["data"], paths["targets"], "ellipse", paths["clusters"],
                         paths["split"])
    assert set(splits) == {"train", "val", "test"}
    for name, arrays in splits.items():
        rows = [i for i, label in enumerate(labels) if label == name]
        assert list(arrays.lesion_ids) == [f"LES_{i:04d}" for i in rows]
        assert arrays.images.dtype == np.uint8 and arrays.images.shape == (len(rows), 120, 120, 3)
        np.testing.assert_array_equal(arrays.images, lesions.images[rows])
        assert arrays.masks.dtype == np.uint8  # levels: target = level / 255
        np.testing.assert_array_equal(arrays.masks, lesions.masks[rows] * np.uint8(255))
        assert arrays.clusters.dtype == np.int64
        np.testing.assert_array_equal(arrays.clusters, lesions.clusters[rows])


def test_load_splits_reads_the_ground_truth_from_data_h5(stage):
    lesions, _, paths = stage
    test = load_splits(paths["data"], paths["data"], "mask", paths["clusters"],
                       paths["split"])["test"]
    np.testing.assert_array_equal(test.masks >= 128, lesions.masks[[3, 8]])


def test_load_splits_refuses_files_of_other_lesions(stage, tmp_path):
    lesions, labels, paths = stage
    reordered = subset(lesions, list(range(1, 12)) + [0])
    other = write_stage_files(tmp_path / "other", reordered, labels)
    fewer = write_stage_files(tmp_path / "fewer", subset(lesions, slice(0, 11)), labels[:11])
    cases = [
        (other["targets"], paths["clusters"], paths["split"]),
        (paths["targets"], fewer["clusters"], paths["split"]),
        (paths["targets"], paths["clusters"], other["split"]),
    ]
    for targets, clusters, split in cases:
        wrong = {targets, clusters, split} - {paths["targets"], paths["clusters"], paths["split"]}
        with pytest.raises(WeaklesionError, match=re.escape(str(wrong.pop()))) as caught:
            load_splits(paths["data"], targets, "ellipse", clusters, split)
        assert str(paths["data"]) in str(caught.value)


# --- resuming after a kill --------------------------------------------------------------------

# A1+L: its dropout draws from torch's global generator, so an exact resume also needs the
# random state restored, not only weights, optimiser and data order.

RESUMABLE_RUN = textwrap.dedent("""
    import logging
    import sys
    from pathlib import Path

    import torch

    from training_helpers import tiny_settings
    from weaklesion.splits.arrays import load_splits
    from weaklesion.training.loop import run_fingerprint, train

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="LOG %(message)s")
    stage, out = Path(sys.argv[1]), Path(sys.argv[2])
    inputs = [stage / name for name in {files!r}]
    settings = tiny_settings("A1+L", schedule={{"epochs": 3}})
    splits = load_splits(inputs[0], inputs[1], "ellipse", inputs[2], inputs[3])
    train(settings, splits, out_model=out / "model.pt", out_history=out / "history.csv",
          checkpoint_dir=out / "checkpoints", fingerprint=run_fingerprint(settings, inputs),
          device=torch.device("cpu"))
""").format(files=STAGE_FILES)


def start_run(script: Path, stage: Path, out: Path, log_name: str) -> subprocess.Popen:
    out.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(TESTS_DIR)])}
    return subprocess.Popen([sys.executable, str(script), str(stage), str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=(out / log_name).open("w"))


def finished_log(process: subprocess.Popen, log_path: Path) -> str:
    code = process.wait(timeout=300)
    log = log_path.read_text()
    assert code == 0, log[-3000:]
    return log


@pytest.mark.slow
def test_killed_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    stage = tmp_path / "stage"
    write_stage_files(stage, synthetic_lesions(sum(SPLIT_SIZES.values())), split_labels())
    script = tmp_path / "resumable_run.py"
    script.write_text(RESUMABLE_RUN)
    reference_out, out = tmp_path / "reference", tmp_path / "run"

    reference = start_run(script, stage, reference_out, "log.txt")
    victim = start_run(script, stage, out, "killed.txt")
    deadline = time.monotonic() + 240
    while not (out / "checkpoints" / "last.pt").exists():
        assert victim.poll() is None, (out / "killed.txt").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint after the first epoch"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=60) == -signal.SIGKILL
    assert not (out / "model.pt").exists()

    log = finished_log(start_run(script, stage, out, "resumed.txt"), out / "resumed.txt")
    match = re.search(r"LOG resumed from \S*last\.pt after epoch (\d+)", log)
    assert match, log[-3000:]
    done = int(match.group(1))
    assert 1 <= done < 3
    assert [int(e) for e in re.findall(r"LOG epoch (\d+): ", log)] == list(range(done + 1, 4))
    assert not (out / "checkpoints").exists()

    finished_log(reference, reference_out / "log.txt")
    expected = pd.read_csv(reference_out / "history.csv")
    got = pd.read_csv(out / "history.csv")
    assert list(got["epoch"]) == [1, 2, 3]
    pd.testing.assert_frame_equal(loss_columns(got), loss_columns(expected), check_exact=True)
    model, state = load_checkpoint(out / "model.pt")
    reference_model, reference_state = load_checkpoint(reference_out / "model.pt")
    assert state["epoch"] == reference_state["epoch"]
    reference_weights = reference_model.state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, reference_weights[name]), name


def test_soft_targets_reach_the_loss_as_level_over_255_and_binarise_at_one_half():
    """The released LiTS targets are soft (PROTOCOL item 5): levels 0..255 in the stores."""
    levels = np.zeros((2, 120, 120), np.uint8)
    levels[0, 50:70, 50:70] = 255
    levels[0, 49, 50:70] = 128
    levels[1, 10, 10] = 127
    arrays = LesionArrays(np.array(["a", "b"]), np.zeros((2, 120, 120, 3), np.uint8), levels,
                          np.zeros(2, np.int64))
    settings = tiny_settings("A1", pad_mode="zero")
    batches = Batches(arrays, settings, CPU)
    index = torch.arange(2)
    mask = batches.targets(index)["mask"]
    window = mask[:, 0, 4:124, 4:124]  # compact geometry: the patch at (4, 4)
    torch.testing.assert_close(window, torch.from_numpy(levels).float() / 255)
    assert torch.unique(window).tolist() == pytest.approx([0.0, 127 / 255, 128 / 255, 1.0])
    binary = batches.binary_masks(index)
    assert binary[0, 49, 55] and not binary[1, 10, 10]
    # Bool masks (any binary store) become exactly 0 and 1.
    as_bool = Batches(LesionArrays(arrays.lesion_ids, arrays.images, levels >= 128,
                                   arrays.clusters), settings, CPU)
    assert set(torch.unique(as_bool.targets(index)["mask"]).tolist()) == {0.0, 1.0}


def test_cuda_graphs_on_the_cpu_train_eagerly_and_change_nothing(runs, splits, tmp_path,
                                                                  caplog):
    """The switch is a no-op off CUDA: the same history and the same weights, byte for byte."""
    settings, out, history = runs["ACoseg"]
    with caplog.at_level("INFO", logger="weaklesion.training"):
        again = train(settings, splits, out_model=tmp_path / "model.pt",
                      out_history=tmp_path / "history.csv",
                      checkpoint_dir=tmp_path / "checkpoints", fingerprint="test-run",
                      device=CPU, fast=FastPaths(cuda_graphs=True))
    assert "gpus.cuda_graphs needs a CUDA device; training eagerly on cpu" in caplog.text
    pd.testing.assert_frame_equal(loss_columns(again), loss_columns(history))
    first, _ = load_checkpoint(out / "model.pt")
    second, _ = load_checkpoint(tmp_path / "model.pt")
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name


def model_state(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0].state_dict()


def assert_trains_as_the_eager_run(eager_run, out: Path, history: pd.DataFrame) -> None:
    """The same losses and Dice to within rounding, the same epoch kept, and weights whose
    change from the start is that of the eager run to within 1 % (measured: < 0.1 %)."""
    settings, eager_out, eager_history = eager_run
    pd.testing.assert_frame_equal(loss_columns(history), loss_columns(eager_history),
                                  check_exact=False, rtol=1e-4, atol=1e-6)
    eager_state = model_state(eager_out / "model.pt")
    state = model_state(out / "model.pt")
    assert list(state) == list(eager_state)  # plain keys, whatever ran the steps
    assert update_difference(initial_state(settings), state, eager_state) < 1e-2
    assert (load_checkpoint(out / "model.pt")[1]["epoch"]
            == load_checkpoint(eager_out / "model.pt")[1]["epoch"])


def test_fused_pairs_train_acoseg_as_its_two_passes_do(runs, splits, tmp_path, caplog,
                                                       monkeypatch):
    fused_steps = []

    def counted(*args, **kwargs):
        fused_steps.append(1)
        return pair_outputs(*args, **kwargs)

    monkeypatch.setattr("weaklesion.training.steps.pair_outputs", counted)
    settings, _, _ = runs["ACoseg"]
    with caplog.at_level("INFO", logger="weaklesion.training"):
        history = run(settings, splits, tmp_path, fast=FastPaths(fused_pairs=True))
    assert "fast paths: fused_pairs" in caplog.text
    assert len(fused_steps) == 2 * 2  # 2 epochs of one batch of 8: two pairs each
    assert_trains_as_the_eager_run(runs["ACoseg"], tmp_path, history)


def test_validation_batch_size_changes_validation_by_rounding_only(runs, splits, tmp_path,
                                                                   monkeypatch):
    sizes = []

    def recorded(model, settings, batches, scale, batch_size):
        sizes.append(batch_size)
        return validate(model, settings, batches, scale, batch_size)

    monkeypatch.setattr("weaklesion.training.loop.validate", recorded)
    settings, out, eager = runs["A1"]
    history = run(settings, splits, tmp_path, fast=FastPaths(validation_batch_size=3))
    assert sizes == [3, 3]  # 4 validation lesions: batches of 3 and 1, every epoch
    train_columns = [c for c in eager.columns if c.startswith("train_")]
    pd.testing.assert_frame_equal(history[train_columns], eager[train_columns])
    assert_trains_as_the_eager_run(runs["A1"], tmp_path, history)
    for (name, a), b in zip(model_state(out / "model.pt").items(),
                            model_state(tmp_path / "model.pt").values(), strict=True):
        assert torch.equal(a, b), name  # validation never touches the weights


@pytest.mark.slow
def test_compiled_fused_acoseg_trains_as_the_eager_run(runs, splits, tmp_path, caplog):
    """torch.compile (inductor, about a minute of compiling on the CPU) with fused pairs."""
    settings, _, _ = runs["ACoseg"]
    with caplog.at_level("INFO", logger="weaklesion.training"):
        history = run(settings, splits, tmp_path,
                      fast=FastPaths(fused_pairs=True, compile=True))
    assert "fast paths: fused_pairs, compile" in caplog.text
    assert_trains_as_the_eager_run(runs["ACoseg"], tmp_path, history)


def test_fast_paths_name_the_config_key_of_a_bad_value():
    with pytest.raises(ConfigError, match=r"gpus\.validation_batch_size = 0"):
        FastPaths(validation_batch_size=0)
    with pytest.raises(ConfigError, match=r"gpus\.compile = 'yes'; expected true or false"):
        FastPaths(compile="yes")
    assert FastPaths().described() == "none (eager steps)"
    fast, claim = split_gpu_config({"devices": [0], "jobs_per_gpu": 2, "cuda_graphs": True,
                                    "validation_batch_size": 64, "lock_dir": None})
    assert fast == FastPaths(cuda_graphs=True, validation_batch_size=64)
    assert claim == {"devices": [0], "jobs_per_gpu": 2, "lock_dir": None}
    assert fast.described() == "cuda_graphs, validation batches of 64"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_graphed_step_matches_the_eager_step_on_cuda(splits):
    """On a GPU: three steps replayed from a captured graph give the eager steps' weights."""
    from weaklesion.training.cuda_graphs import GraphedStep

    device = torch.device("cuda")
    settings = model_settings("A1")
    batches = Batches(splits["train"], settings, device)
    index = torch.arange(settings.schedule.batch_size, device=device)
    x, targets = batches.inputs(index), batches.targets(index)
    weights = []
    for graphs in (False, True):
        torch.manual_seed(0)
        model = build_model("A1", encoder="resnet18", encoder_weights=None,
                            num_clusters=3).to(device).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=graphs)
        step = GraphedStep(model, optimizer, functools.partial(
            step_terms, model, "A1", rows=(slice(None), None), scale=1.0), grad_clip=None,
            warmup=1)
        for _ in range(4):
            if graphs:
                step(x, targets)
            else:
                step.step(x, targets)
        assert step.graph is not None or not graphs
        weights.append([p.detach().clone() for p in model.parameters()])
    for eager, graphed in zip(*weights, strict=True):
        torch.testing.assert_close(graphed, eager, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fused_graphed_acoseg_steps_match_the_eager_two_pass_steps_on_cuda(splits):
    """On a GPU: ACoseg's pairs fused and replayed from graphs (two captured per batch, after
    3 eager warm-up steps each) move the weights as the eager two-pass steps do. TF32
    convolutions add rounding of their own; one plain pass over the 8 is ~0.4 away."""
    from weaklesion.training.steps import BatchSteps

    device = torch.device("cuda")
    settings = model_settings("ACoseg", deterministic=False)
    batches = Batches(splits["train"], settings, device)
    x, targets = batches.inputs(torch.arange(8, device=device)), batches.targets(
        torch.arange(8, device=device))
    states = {}
    for fast in (EAGER, FastPaths(cuda_graphs=True, fused_pairs=True)):
        torch.manual_seed(0)
        model = build_model("ACoseg", encoder="resnet18", encoder_weights=None).to(device)
        for layer in model.modules():  # dropout off: this compares the steps' arithmetic
            if isinstance(layer, torch.nn.Dropout):
                layer.p = 0.0
        start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-5, capturable=fast.cuda_graphs)
        steps = BatchSteps(model, model, optimizer, settings, fast, device)
        model.train()
        for _ in range(6):
            for _terms in steps(x, targets):
                pass
        assert len(steps.graphed) == (2 if fast.cuda_graphs else 0)
        assert all(g.graph is not None for g in steps.graphed.values())
        states[fast] = model.state_dict()
    assert update_difference(start, states[FastPaths(cuda_graphs=True, fused_pairs=True)],
                             states[EAGER]) < 0.05
