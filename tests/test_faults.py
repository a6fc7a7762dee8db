"""Faults the workflow must survive without losing finished work or keeping half-written files:
killed jobs and killed runs, two runs on one folder, broken downloads and a full disk.

Interrupted runs are rerun and compared with the same config run once without interruption
(``fault_helpers.reference_run``). Kills go either to one job's Python process, found by its
command line among the processes of the run's own process group, or to that whole group —
Snakemake and every job it started — as a closed terminal, a scheduler or the OOM killer would.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import signal
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from fault_helpers import (
    DATA_TARGETS,
    EPOCHS,
    MODEL_RUN,
    BackgroundRun,
    assert_every_output_readable,
    checkpoint_epoch,
    data_half_tree,
    mtimes,
    reference_run,
    start_snakemake,
    temporary_files,
    wait_until,
)
from fixtures_ham import write_ham_fixture
from http_fixture_server import FixtureServer
from workflow_helpers import (
    copy_tree,
    copy_workflow,
    dry_run,
    job_stats,
    run_snakemake,
    tiny_demo_config,
)

from weaklesion.datasets.demo import DEMO_FILES, IMAGE_ARCHIVES, write_demo_dataset
from weaklesion.datasets.patch_store import write_masks
from weaklesion.datasets.preprocess import preprocess
from weaklesion.errors import WeaklesionError
from weaklesion.raw.download import download
from weaklesion.raw.manifest import ManifestEntry
from weaklesion.raw.verify import receipt_path

METRICS = f"{MODEL_RUN}/metrics.parquet"
LAST = f"{MODEL_RUN}/checkpoints/last.pt"
LOCK_REFUSED = "Directory cannot be locked"
DATA_HALF_RULES = {"make_demo_dataset", "verify_archives", "locate_source",
                   "preprocess", "ellipse_targets", "cluster_ellipses", "split_dataset"}
# Outputs of the jobs that finish before preprocessing starts.
BEFORE_PREPROCESSING = ("resources/demo/archives/manifest.tsv", "results/demo/archives.tsv",
                        "results/demo/source_files.tsv")
# Preprocessing long enough (~1 s for 120 full-size images) to be interrupted mid-write.
SLOW_PREPROCESSING = tiny_demo_config(demo={"n_images": 120, "width": 600, "height": 450})


def trained_epochs(log: str) -> list[int]:
    return [int(n) for n in re.findall(r"epoch (\d+): train_loss", log)]


def assert_same_results(workdir: Path, reference: Path) -> None:
    """Metrics byte-identical to the uninterrupted run's; history equal but for timings."""
    assert (workdir / METRICS).read_bytes() == (reference / METRICS).read_bytes()
    history = pd.read_csv(workdir / MODEL_RUN / "history.csv").drop(columns="seconds")
    expected = pd.read_csv(reference / MODEL_RUN / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(history, expected)
    assert not (workdir / MODEL_RUN / "checkpoints").exists()


def interrupt_after_first_checkpoint(workdir: Path) -> tuple[BackgroundRun, int]:
    """Start the run and wait for training's first checkpoint; returns the run and the pid of
    the training process, which is then inside epoch 2 (of 3)."""
    run = start_snakemake(workdir, METRICS)
    wait_until((workdir / LAST).exists, run, "the first checkpoint")
    return run, run.script_process("train_model.py")


# --- 1. one training job killed mid-epoch --------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_training_job_resumes_and_matches_an_uninterrupted_run(
        signum, request, tmp_path_factory, tmp_path):
    reference = reference_run(request.config, tmp_path_factory)
    workdir = copy_tree(data_half_tree(request.config, tmp_path_factory), tmp_path / "wf")
    first, trainer = interrupt_after_first_checkpoint(workdir)
    os.kill(trainer, signum)
    assert first.wait() != 0
    assert "Error in rule train_model" in first.output
    killed_log = (workdir / MODEL_RUN / "train.log").read_text()
    done = checkpoint_epoch(workdir / LAST)
    assert 1 <= done < EPOCHS and trained_epochs(killed_log) == list(range(1, done + 1))
    assert not (workdir / MODEL_RUN / "model.pt").exists()
    if signum == signal.SIGTERM:  # unwound: logged, and no temporary file left behind
        assert "terminated by SIGTERM" in killed_log
        assert temporary_files(workdir / MODEL_RUN) == []

    second = run_snakemake(workdir, METRICS)
    assert second.returncode == 0, second.stdout[-3000:]
    assert set(job_stats(second.stdout)) == {"train_model", "evaluate_model"}
    log = (workdir / MODEL_RUN / "train.log").read_text()
    assert f"resumed from {LAST} after epoch {done}" in log
    assert trained_epochs(log) == list(range(done + 1, EPOCHS + 1))
    assert_same_results(workdir, reference)


# --- 2. the whole run killed --------------------------------------------------------------


def assert_lock_outlives_the_kill_then_unlock(workdir: Path, *targets: str) -> None:
    """Snakemake cannot tell a dead run's lock from a live one: the rerun is refused until
    ``--unlock``, which is what its message says to do."""
    refused = run_snakemake(workdir, *targets)
    assert refused.returncode != 0 and LOCK_REFUSED in refused.stdout
    assert "--unlock" in refused.stdout
    assert run_snakemake(workdir, "--unlock").returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_run_killed_during_training_resumes_without_redoing_the_data_half(
        signum, request, tmp_path_factory, tmp_path):
    reference = reference_run(request.config, tmp_path_factory)
    workdir = copy_tree(data_half_tree(request.config, tmp_path_factory), tmp_path / "wf")
    data_outputs = [str(p.relative_to(workdir)) for p in (workdir / "results/demo").iterdir()
                    if p.is_file()]
    before = mtimes(workdir, data_outputs)
    first, _ = interrupt_after_first_checkpoint(workdir)
    first.signal_group(signum)  # SIGINT: Ctrl-C in the terminal; SIGKILL: nothing survives
    first.wait()
    killed_log = (workdir / MODEL_RUN / "train.log").read_text()
    done = checkpoint_epoch(workdir / LAST)
    assert 1 <= done < EPOCHS
    assert not (workdir / MODEL_RUN / "model.pt").exists()
    assert_every_output_readable(workdir)
    if signum == signal.SIGKILL:
        assert_lock_outlives_the_kill_then_unlock(workdir, METRICS)
    else:  # the job unwound: one line in its log, its temporary files removed
        assert "ERROR weaklesion: interrupted; temporary files were removed" in killed_log
        assert temporary_files(workdir / "results") == []

    second = run_snakemake(workdir, METRICS)
    assert second.returncode == 0, second.stdout[-3000:]
    assert set(job_stats(second.stdout)) == {"train_model", "evaluate_model"}
    assert mtimes(workdir, data_outputs) == before
    assert f"resumed from {LAST} after epoch {done}" in (workdir / MODEL_RUN / "train.log"
                                                         ).read_text()
    assert_same_results(workdir, reference)
    assert_every_output_readable(workdir)


def interrupt_preprocessing(workdir: Path) -> BackgroundRun:
    """Start the data half and wait until preprocessing is writing ``data.h5`` (its
    temporary file exists)."""
    run = start_snakemake(workdir, *DATA_TARGETS)
    results = workdir / "results/demo"
    wait_until(lambda: any(p.name.startswith(".data.h5.tmp-") for p in temporary_files(results)),
               run, "preprocessing to start writing data.h5")
    return run


def assert_preprocessing_redone_and_complete(workdir: Path, before: dict[str, int]) -> None:
    second = run_snakemake(workdir, *DATA_TARGETS)
    assert second.returncode == 0, second.stdout[-3000:]
    redone = set(job_stats(second.stdout))
    assert "preprocess" in redone and not redone & {"make_demo_dataset", "verify_archives",
                                                    "locate_source"}
    assert mtimes(workdir, BEFORE_PREPROCESSING) == before
    assert_every_output_readable(workdir)
    listing = pd.read_csv(workdir / "results/demo/source_files.tsv", sep="\t")
    excluded = pd.read_csv(workdir / "results/demo/paper/excluded.csv")
    with h5py.File(workdir / "results/demo/paper/data.h5", "r") as h5:
        assert len(h5["lesion_id"]) + len(excluded) == len(listing)


@pytest.mark.slow
def test_run_killed_during_preprocessing_keeps_no_partial_store(tmp_path):
    workdir = copy_workflow(tmp_path / "wf", SLOW_PREPROCESSING)
    first = interrupt_preprocessing(workdir)
    first.signal_group(signal.SIGKILL)
    first.wait()
    results = workdir / "results/demo"
    assert not (results / "data.h5").exists()
    # A SIGKILL leaves no chance to clean up: the temporary file stays, under a hidden name
    # that no rule names as output, so neither Snakemake nor a rerun takes it for data.h5.
    (stale,) = temporary_files(results)
    assert stale.name.startswith(".data.h5.tmp-")
    assert_every_output_readable(workdir)
    before = mtimes(workdir, BEFORE_PREPROCESSING)
    assert_lock_outlives_the_kill_then_unlock(workdir, *DATA_TARGETS)
    assert_preprocessing_redone_and_complete(workdir, before)


@pytest.mark.slow
def test_terminated_preprocessing_job_removes_its_temporary_file(tmp_path):
    workdir = copy_workflow(tmp_path / "wf", SLOW_PREPROCESSING)
    first = interrupt_preprocessing(workdir)
    os.kill(first.script_process("preprocess.py"), signal.SIGTERM)
    assert first.wait() != 0
    results = workdir / "results/demo"
    assert not (results / "data.h5").exists() and temporary_files(results) == []
    assert "terminated by SIGTERM" in (workdir / "logs/demo/paper/preprocess.log").read_text()
    assert_preprocessing_redone_and_complete(workdir, mtimes(workdir, BEFORE_PREPROCESSING))


# --- 3. two runs on one folder -------------------------------------------------------------


@pytest.mark.slow
def test_second_run_on_the_same_folder_is_refused_and_the_first_finishes(tmp_path):
    workdir = copy_workflow(tmp_path / "wf", tiny_demo_config())
    first = start_snakemake(workdir, *DATA_TARGETS)
    locks = workdir / ".snakemake" / "locks"
    wait_until(lambda: locks.is_dir() and any(locks.iterdir()), first, "the first run's lock")
    # Frozen while it holds the lock, so the second run certainly meets a live first one.
    first.signal_group(signal.SIGSTOP)
    try:
        frozen = {p: p.stat().st_mtime_ns for p in workdir.rglob("*")
                  if p.is_file() and ".snakemake" not in p.parts}
        second = run_snakemake(workdir, *DATA_TARGETS)
        assert second.returncode != 0 and LOCK_REFUSED in second.stdout
        assert {p: p.stat().st_mtime_ns for p in frozen} == frozen  # touched nothing
    finally:
        first.signal_group(signal.SIGCONT)
    assert first.wait() == 0, first.output[-3000:]
    assert not locks.exists() or not any(locks.iterdir())  # released
    assert_every_output_readable(workdir)
    assert dry_run(workdir, *DATA_TARGETS).stats == {}


# --- 4. broken downloads (what tests/test_archives.py does not cover) ----------------------

HTML_PAGE = b"<!DOCTYPE html>\n<html><body><h1>Sign in</h1>to download this file</body></html>"


def test_html_page_instead_of_a_file_of_known_size_is_named_as_such(tmp_path):
    """The manifests ship sizes, so a login page is first of all the wrong size; the error
    must still say it is an HTML page, which tells the user what went wrong."""
    body = bytes(range(256)) * 4096
    with FixtureServer() as server:
        url = server.add("/a.zip", HTML_PAGE, content_type="text/html; charset=utf-8")
        entry = ManifestEntry("a.zip", len(body), hashlib.md5(body).hexdigest(), url)
        with pytest.raises(WeaklesionError, match="HTML page") as caught:
            download(entry, tmp_path, retries=2, timeout=5, progress=False, backoff=0)
        assert len(server.requests) == 3
    assert "3 attempts" in str(caught.value) and url in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_download_rule_resumes_a_dropped_transfer_and_fails_clearly_on_an_html_page(tmp_path):
    source = tmp_path / "served"
    write_demo_dataset(source, n_images=12, width=160, height=120)
    dropped, html = IMAGE_ARCHIVES
    with FixtureServer() as server:
        rows = []
        for name in DEMO_FILES:
            body = (source / name).read_bytes()
            behaviour = {}
            if name == dropped:  # the connection breaks halfway, once
                behaviour = {"drop_after": len(body) // 2, "drop_times": 1}
            served = HTML_PAGE if name == html else body
            if name == html:
                behaviour = {"content_type": "text/html"}
            rows.append({"name": name, "size": len(body), "md5": hashlib.md5(body).hexdigest(),
                         "url": server.add(f"/files/{name}", served, **behaviour)})
        manifest = tmp_path / "manifest.tsv"
        pd.DataFrame(rows).to_csv(manifest, sep="\t", index=False)
        config = {"datasets": {"web": {"format": "ham10000", "k": 3,
                                       "manifest": str(manifest)}}}
        workdir = copy_workflow(tmp_path / "wf", config)
        archives = workdir / "resources/web/archives"
        result = run_snakemake(workdir, *(f"resources/web/archives/{n}" for n in IMAGE_ARCHIVES))
        dropped_requests = server.requests_for(f"/files/{dropped}")
        html_requests = server.requests_for(f"/files/{html}")
    assert result.returncode != 0
    # The dropped transfer was resumed where it broke and completed.
    assert (archives / dropped).read_bytes() == (source / dropped).read_bytes()
    assert [r.range for r in dropped_requests] == [None, f"bytes={dropped_requests[0].bytes_sent}-"]
    # The HTML page: the rule's bounded retries (3), then one clear line in the log and in
    # Snakemake's output; nothing under the archive's name, no partial file to resume.
    assert len(html_requests) == 4
    log = (workdir / f"logs/web/download/{html}.log").read_text()
    assert "HTML page" in log and "4 attempts" in log and "Traceback" not in log
    assert "HTML page" in result.stdout
    # The completed download, and its receipt: the MD5 computed while it was written.
    assert sorted(p.name for p in archives.iterdir()) == sorted(
        [dropped, receipt_path(archives / dropped).name])


# --- 5. a full disk while writing HDF5 ----------------------------------------------------


def ham_fixture(tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    write_ham_fixture(root, n_images=6)
    return root


def run_preprocess(root: Path, out: Path):
    return preprocess(fmt="ham10000", root=root,
                      settings={"protocol": "paper", "on_bad_image": "fail"}, dataset="ham",
                      data_h5=out / "data.h5", excluded_csv=out / "excluded.csv")


@pytest.fixture
def small_filesystem(tmp_path):
    """A 16 KiB tmpfs: room for HDF5's first blocks, not for six patches."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs",
                              str(mount_point)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root and mount permission): "
                    f"{mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


def test_full_filesystem_while_writing_data_h5(tmp_path, small_filesystem):
    root = ham_fixture(tmp_path)
    with pytest.raises(WeaklesionError, match="no space left") as caught:
        run_preprocess(root, small_filesystem)
    assert str(small_filesystem / "data.h5") in str(caught.value)
    assert list(small_filesystem.iterdir()) == []  # neither data.h5 nor its temporary file


def _raise_enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("write", ["data.h5", "targets.h5"])
def test_injected_enospc_while_writing_hdf5(write, tmp_path, monkeypatch):
    out = tmp_path / "out"
    root = ham_fixture(tmp_path)
    if write == "data.h5":  # the patches go to disk as blocks are flushed
        monkeypatch.setattr(h5py.Dataset, "__setitem__", _raise_enospc)
        call = lambda: run_preprocess(root, out)  # noqa: E731
    else:  # a mask store is written in one create_dataset
        monkeypatch.setattr(h5py.Group, "create_dataset", _raise_enospc)
        masks = np.zeros((2, 120, 120), bool)
        call = lambda: write_masks(out / "targets.h5", "ellipse", masks, ["a", "b"])  # noqa: E731
    with pytest.raises(WeaklesionError, match="no space left") as caught:
        call()
    assert str(out / write) in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)
    assert list(out.iterdir()) == []
