"""Peak memory of a command and every process it starts (Linux ``/proc``).

Samples the whole process tree every few milliseconds and keeps the peak of the summed
resident set (RSS, which counts pages shared by forked workers once per process: an upper
bound) and of the summed proportional set (PSS, shared pages split between the processes
sharing them: what the tree really occupies).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass
class TreeMemory:
    peak_rss: int = 0  # bytes, summed over the tree at the sample where the sum peaked
    peak_pss: int = 0
    peak_processes: int = 0  # processes alive at the RSS peak
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (time, rss, pss)


def descendants(pid: int) -> list[int]:
    """``pid`` and all processes below it."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in _list(Path(f"/proc/{current}/task")):
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
            except OSError:
                continue
            pending.extend(int(child) for child in children)
    return found


def _list(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _rss_pss(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes of one process; zeros if it has just exited."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key] = int(rest.split()[0]) * 1024
    return values.get("Rss", 0), values.get("Pss", 0)


def run_sampled(command: Sequence[str], *, interval: float = 0.02, env=None,
                cwd=None) -> tuple[subprocess.CompletedProcess[str], TreeMemory]:
    """Run ``command`` to the end, sampling its process tree; fail if it fails."""
    memory = TreeMemory()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, cwd=cwd) as process:
        # The pipes are read by threads: communicate() would block the sampling.
        stdout_path, stderr_path = _drain(process)
        while process.poll() is None:
            pids = descendants(process.pid)
            usage = [_rss_pss(pid) for pid in pids]
            rss, pss = sum(u[0] for u in usage), sum(u[1] for u in usage)
            memory.samples.append((time.time(), rss, pss))
            if rss > memory.peak_rss:
                memory.peak_rss, memory.peak_processes = rss, len(pids)
            memory.peak_pss = max(memory.peak_pss, pss)
            time.sleep(interval)
        stdout, stderr = stdout_path.result(), stderr_path.result()
    completed = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n"
                           f"{stdout[-2000:]}\n{stderr[-4000:]}")
    return completed, memory


def _drain(process: subprocess.Popen) -> tuple[Future, Future]:
    executor = ThreadPoolExecutor(2)
    futures = executor.submit(process.stdout.read), executor.submit(process.stderr.read)
    executor.shutdown(wait=False)
    return futures
