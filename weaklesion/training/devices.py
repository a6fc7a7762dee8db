"""One GPU for each GPU job on a machine with several.

Snakemake assigns no device ids to local jobs (its issue #281): with ``--resources gpu=4``
four training jobs would all start on ``cuda:0``. So each GPU job, before CUDA starts, claims
a device slot of its own: an exclusive ``flock`` on ``<lock_dir>/gpu-<id>.lock``, held through
an open file for the life of the process. The operating system drops the lock when the job
ends, crashes or is killed, so no stale lock is ever left to clean up. The job then runs with
only that device visible (``CUDA_VISIBLE_DEVICES``). When every device is taken, the job
waits for one to be released rather than share it; ``gpus.jobs_per_gpu`` gives each device
several slots, for GPUs that one job at the paper's small batches leaves mostly idle.

The devices are, in order of precedence: the config's ``gpus.devices``, the job's
``CUDA_VISIBLE_DEVICES`` (a user restricting the machine), or what ``nvidia-smi`` lists.
Under SLURM the devices SLURM allocated to the job are used as they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "weaklesion-gpu-locks"
LOCK_DIR_VARIABLE = "WEAKLESION_GPU_LOCK_DIR"


@dataclass
class DeviceClaim:
    """What a job was given: ``device`` (made the only visible one) or None, and why."""

    device: str | None
    description: str
    _lock: IO[str] | None = field(default=None, repr=False)

    def release(self) -> None:
        """Give the device back before the process ends (it is given back at exit anyway)."""
        if self._lock is not None:
            _held.remove(self._lock)
            self._lock.close()
            self._lock = None


# The lock files of this process's claims: held here so that a claim lasts until released or
# until the process ends, even where the caller keeps no reference to it.
_held: list[IO[str]] = []


def listed_devices(configured: Sequence[str | int] | None = None,
                   env: Mapping[str, str] = os.environ,
                   query: Callable[[], list[str] | None] | None = None) -> list[str] | None:
    """The device ids jobs may claim; [] where none is visible; None where none is known
    (no GPU, or no way to list them): then nothing is claimed."""
    if configured is not None:
        return [str(d) for d in configured]
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [d.strip() for d in visible.split(",") if d.strip()]
        # CUDA stops at the first invalid id, such as -1: what precedes it is visible.
        valid = []
        for device in ids:
            if device.startswith("-"):
                break
            valid.append(device)
        return valid
    return (query or nvidia_smi_devices)()


def nvidia_smi_devices() -> list[str] | None:
    """The machine's GPU indices as nvidia-smi lists them; None without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return [line.strip() for line in listed.stdout.splitlines() if line.strip()]


def claim_device(*, devices: Sequence[str | int] | None = None, lock_dir: str | None = None,
                 jobs_per_gpu: int = 1, env: MutableMapping[str, str] = os.environ,
                 poll_s: float = 2.0, timeout_s: float | None = None) -> DeviceClaim:
    """Claim a free device slot for this process and make its device the only one CUDA sees
    (``env``); wait while all are taken (TimeoutError after ``timeout_s``, if given). Each
    device has ``jobs_per_gpu`` slots: at the paper's small batches a training step leaves
    most of a large GPU idle, so several jobs can share one. Call it before anything starts
    CUDA."""
    if "SLURM_JOB_ID" in env:
        return DeviceClaim(None, "SLURM job: using the GPUs SLURM allocated "
                           f"(CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES', 'unset')})")
    candidates = listed_devices(devices, env)
    if not candidates:
        return DeviceClaim(None, "no GPU listed: nothing to claim")
    folder = Path(lock_dir or env.get(LOCK_DIR_VARIABLE) or DEFAULT_LOCK_DIR)
    _make_shared_folder(folder)
    started, waiting_logged = time.monotonic(), False
    # Every device's first slot before any second one: jobs spread over the GPUs first.
    slots = [(device, slot) for slot in range(jobs_per_gpu) for device in candidates]
    while True:
        for device, slot in slots:
            name = f"gpu-{_safe(device)}{f'.slot{slot}' if slot else ''}.lock"
            lock = _try_lock(folder / name)
            if lock is not None:
                _held.append(lock)
                lock.write(f"pid {os.getpid()}\n")
                lock.flush()
                env["CUDA_VISIBLE_DEVICES"] = device
                waited = time.monotonic() - started
                return DeviceClaim(device, f"claimed GPU {device} of {', '.join(candidates)} "
                                   f"(lock {folder / name}"
                                   + (f", after waiting {waited:.0f} s)" if waiting_logged
                                      else ")"), lock)
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise TimeoutError(f"no GPU of {', '.join(candidates)} became free within "
                               f"{timeout_s:g} s (locks in {folder})")
        if not waiting_logged:
            log.info("all %d GPU slots (%s) are taken by other jobs; waiting for one",
                     len(slots), ", ".join(candidates))
            waiting_logged = True
        time.sleep(poll_s)


def _try_lock(path: Path) -> IO[str] | None:
    handle = open(path, "a+")  # noqa: SIM115 - held open for the life of the claim
    with contextlib.suppress(OSError):  # other users' files may refuse the mode change
        os.chmod(path, 0o666)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    return handle


def _make_shared_folder(folder: Path) -> None:
    # Every user's jobs on the machine must see the same locks: a sticky, world-writable
    # folder, like /tmp itself.
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o1777)


def _safe(device: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", device)
