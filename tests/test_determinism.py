"""Determinism: the same config and seeds give byte-identical results on the CPU, and
``train.deterministic`` sets what CUDA needs (docs/determinism.md; checked without a GPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from fault_helpers import FINAL_TARGETS, MODEL_RUN, fault_config, reference_run
from training_helpers import synthetic_splits, tiny_settings
from workflow_helpers import copy_workflow, run_snakemake

import weaklesion.training.loop as training_loop
from weaklesion.training.loop import seed_everything
from weaklesion.training.settings import settings_from_config

# Timings, not results: log lines carry a clock time, the history each epoch's duration.
TIMED = {"history.csv"}


def result_files(workdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(workdir)): p.read_bytes()
            for p in sorted((workdir / "results").rglob("*"))
            if p.is_file() and p.suffix != ".log" and p.name not in TIMED}


@pytest.mark.slow
def test_two_fresh_runs_give_byte_identical_results(request, tmp_path_factory, tmp_path):
    first = reference_run(request.config, tmp_path_factory)
    second = copy_workflow(tmp_path / "wf", fault_config())
    result = run_snakemake(second, *FINAL_TARGETS)
    assert result.returncode == 0, result.stdout[-3000:]
    files, again = result_files(first), result_files(second)
    assert set(files) == set(again)
    for required in ("results/demo/paper/split.csv", "results/demo/paper/clusters.parquet",
                     f"{MODEL_RUN}/metrics.parquet", f"{MODEL_RUN}/model.pt",
                     "results/tables/paper_table.csv", "results/tables/paper_table.md"):
        assert required in files
    assert [name for name in files if files[name] != again[name]] == []
    history = pd.read_csv(first / MODEL_RUN / "history.csv")
    pd.testing.assert_frame_equal(history.drop(columns="seconds"),
                                  pd.read_csv(second / MODEL_RUN / "history.csv"
                                              ).drop(columns="seconds"))


def mkl_setting_after_import(preset: str | None) -> str:
    """MKL_CBWR as a fresh interpreter sees it after importing torch, then weaklesion."""
    env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
    if preset is not None:
        env["MKL_CBWR"] = preset
    code = "import os, torch, weaklesion; print(os.environ['MKL_CBWR'])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def test_importing_the_package_asks_mkl_for_run_to_run_reproducible_results():
    # MKL reads the variable at its first call, which importing torch does not make.
    assert mkl_setting_after_import(None) == "AUTO"
    assert mkl_setting_after_import("COMPATIBLE") == "COMPATIBLE"  # the user's choice wins


# --- what train.deterministic sets (no GPU needed: these are process-wide flags) ------------


@pytest.fixture
def torch_flags(monkeypatch):
    """Restore torch's global determinism flags and CUBLAS_WORKSPACE_CONFIG afterwards."""
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "recorded so that teardown restores it")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2:]


def test_deterministic_mode_sets_every_cuda_switch(torch_flags):
    seed_everything(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    # Warnings, not errors: DeepLabV3+'s bilinear upsampling has no deterministic backward.
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_default_mode_autotunes_and_undoes_an_earlier_deterministic_run(torch_flags):
    seed_everything(0, deterministic=True)
    seed_everything(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
    assert not torch.backends.cudnn.deterministic and torch.backends.cudnn.benchmark


def test_a_users_cublas_workspace_setting_is_kept(torch_flags, monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    seed_everything(0, deterministic=True)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_same_seed_same_random_streams(torch_flags):
    first = seed_everything(3, deterministic=False)
    draws = torch.rand(4), torch.randperm(10, generator=first)
    second = seed_everything(3, deterministic=False)
    assert torch.equal(draws[0], torch.rand(4))
    assert torch.equal(draws[1], torch.randperm(10, generator=second))


class _Stop(Exception):
    pass


@pytest.mark.parametrize("deterministic", [True, False])
def test_config_key_reaches_the_training_setup(deterministic, monkeypatch, tmp_path):
    train_config = {"encoder": "resnet18", "geometry": "compact", "channel_order": "corrected",
                    "pad_mode": "zero", "selection": "best", "deterministic": deterministic,
                    "precision": "fp32"}
    settings = settings_from_config(model="A1", seed=5,
                                    dataset={"format": "demo", "k": 3, "protocol": "corrected"},
                                    train_config=train_config, weights_file=None)
    assert settings.deterministic is deterministic
    calls = []

    def record(seed, flag):
        calls.append((seed, flag))
        raise _Stop

    monkeypatch.setattr(training_loop, "seed_everything", record)
    with pytest.raises(_Stop):
        training_loop.train(tiny_settings(seed=5, deterministic=deterministic), synthetic_splits(),
                            out_model=tmp_path / "model.pt",
                            out_history=tmp_path / "history.csv",
                            checkpoint_dir=tmp_path / "checkpoints", fingerprint="f",
                            device=torch.device("cpu"))
    assert calls == [(5, deterministic)]
