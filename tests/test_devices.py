"""Each GPU job on a device of its own (weaklesion.training.devices), with simulated device
lists: the claims are real OS locks held by real processes; only the GPUs are imaginary."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from weaklesion.training.devices import claim_device, listed_devices

REPO = Path(__file__).resolve().parents[1]
# A job: claim a device, say which, hold it until told to go (a file appears), then exit.
JOB = """
import sys, time
from pathlib import Path
from weaklesion.training.devices import claim_device
claim = claim_device(lock_dir=sys.argv[1], poll_s=0.05)
import os
print(claim.device, os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.02)
"""


def start_job(lock_dir: Path, go: Path, devices: str) -> subprocess.Popen:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": devices,
           "PYTHONPATH": str(REPO)}
    env.pop("SLURM_JOB_ID", None)
    return subprocess.Popen([sys.executable, "-c", JOB, str(lock_dir), str(go)], env=env,
                            stdout=subprocess.PIPE, text=True)


def claimed(job: subprocess.Popen, timeout: float = 30) -> str:
    """The device a job reports having claimed (fails if it does not within ``timeout``)."""
    assert has_claimed_within(job, timeout), "the job claimed no device"
    device, visible = job.stdout.readline().split()
    assert visible == device  # the job sees only its own device
    return device


def has_claimed_within(job: subprocess.Popen, seconds: float) -> bool:
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(job.stdout, selectors.EVENT_READ)
        return bool(selector.select(seconds))


def test_concurrent_jobs_get_distinct_devices(tmp_path):
    jobs = [start_job(tmp_path / "locks", tmp_path / "go", "0,1,2") for _ in range(3)]
    try:
        assert sorted(claimed(job) for job in jobs) == ["0", "1", "2"]
    finally:
        (tmp_path / "go").touch()
        for job in jobs:
            job.wait(30)


def test_more_jobs_than_devices_wait_instead_of_sharing(tmp_path):
    first = [start_job(tmp_path / "locks", tmp_path / "go-first", "0,1") for _ in range(2)]
    held = sorted(claimed(job) for job in first)
    assert held == ["0", "1"]
    third = start_job(tmp_path / "locks", tmp_path / "go-third", "0,1")
    try:
        assert not has_claimed_within(third, 2.0)  # both taken: it waits
        (tmp_path / "go-first").touch()  # the first two finish
        for job in first:
            job.wait(30)
        assert claimed(third) in held
    finally:
        (tmp_path / "go-first").touch()
        (tmp_path / "go-third").touch()
        third.wait(30)


def test_a_killed_jobs_device_is_reused(tmp_path):
    job = start_job(tmp_path / "locks", tmp_path / "never", "0")
    assert claimed(job) == "0"
    job.send_signal(signal.SIGKILL)  # no cleanup runs: the OS drops the lock
    job.wait(30)
    assert (tmp_path / "locks" / "gpu-0.lock").exists()  # the file stays, unlocked
    env = {"CUDA_VISIBLE_DEVICES": "0"}
    claim = claim_device(lock_dir=str(tmp_path / "locks"), env=env, timeout_s=5)
    assert claim.device == "0" and env["CUDA_VISIBLE_DEVICES"] == "0"
    claim.release()


def test_a_released_claim_frees_the_device_within_one_process(tmp_path):
    first = claim_device(lock_dir=str(tmp_path), env={"CUDA_VISIBLE_DEVICES": "3"})
    with pytest.raises(TimeoutError, match="no GPU of 3 became free"):
        claim_device(lock_dir=str(tmp_path), env={"CUDA_VISIBLE_DEVICES": "3"},
                     timeout_s=0.2, poll_s=0.05)
    first.release()
    again = claim_device(lock_dir=str(tmp_path), env={"CUDA_VISIBLE_DEVICES": "3"},
                         timeout_s=1)
    assert again.device == "3"
    again.release()


def test_slurm_jobs_keep_the_devices_slurm_gave_them(tmp_path):
    env = {"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "5"}
    claim = claim_device(lock_dir=str(tmp_path), env=env)
    assert claim.device is None
    assert env["CUDA_VISIBLE_DEVICES"] == "5" and "SLURM" in claim.description
    assert not list(tmp_path.iterdir())


def test_no_gpu_means_no_claim(tmp_path):
    for env in ({"CUDA_VISIBLE_DEVICES": ""}, {"CUDA_VISIBLE_DEVICES": "-1"}):
        claim = claim_device(lock_dir=str(tmp_path), env=env)
        assert claim.device is None and "no GPU" in claim.description
        assert env["CUDA_VISIBLE_DEVICES"] in ("", "-1")


@pytest.mark.parametrize(("configured", "visible", "listed", "expected"), [
    (None, "0,1,2", ["0"], ["0", "1", "2"]),  # the user's restriction
    (None, "2, 3", None, ["2", "3"]),
    (None, "1,-1,2", None, ["1"]),  # CUDA stops at the first invalid id
    (["1", 3], "0,1,2,3", None, ["1", "3"]),  # the config's list wins
    (None, None, ["0", "1"], ["0", "1"]),  # what nvidia-smi lists
    (None, None, None, None),  # no nvidia-smi: nothing known
    (None, "GPU-5f2a,MIG-1c3d", None, ["GPU-5f2a", "MIG-1c3d"]),  # UUIDs and MIG slices
])
def test_devices_come_from_config_then_environment_then_nvidia_smi(configured, visible, listed,
                                                                   expected):
    env = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    assert listed_devices(configured, env, query=lambda: listed) == expected


def test_lock_files_of_odd_ids_stay_in_the_lock_folder(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "MIG-GPU-1/2/0"}
    claim = claim_device(lock_dir=str(tmp_path), env=env)
    assert claim.device == "MIG-GPU-1/2/0"
    assert [p.name for p in tmp_path.iterdir()] == ["gpu-MIG-GPU-1_2_0.lock"]
    claim.release()


def test_jobs_per_gpu_fills_every_device_once_before_sharing_one(tmp_path):
    claims = [claim_device(lock_dir=str(tmp_path), jobs_per_gpu=2,
                           env={"CUDA_VISIBLE_DEVICES": "0,1"}) for _ in range(4)]
    assert [c.device for c in claims] == ["0", "1", "0", "1"]
    with pytest.raises(TimeoutError):
        claim_device(lock_dir=str(tmp_path), jobs_per_gpu=2,
                     env={"CUDA_VISIBLE_DEVICES": "0,1"}, timeout_s=0.1, poll_s=0.05)
    claims[1].release()
    assert claim_device(lock_dir=str(tmp_path), jobs_per_gpu=2,
                        env={"CUDA_VISIBLE_DEVICES": "0,1"}, timeout_s=1).device == "1"


def test_a_claim_lasts_while_the_process_does_even_unreferenced(tmp_path):
    claim_device(lock_dir=str(tmp_path), env={"CUDA_VISIBLE_DEVICES": "4"})  # not kept
    gc.collect()
    with pytest.raises(TimeoutError):
        claim_device(lock_dir=str(tmp_path), env={"CUDA_VISIBLE_DEVICES": "4"},
                     timeout_s=0.1, poll_s=0.05)
