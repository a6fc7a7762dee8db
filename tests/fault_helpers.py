"""Workflow runs that can be interrupted, for the fault-tolerance and determinism tests.

Snakemake runs in its own process group (a new session), so a test can kill the whole run —
Snakemake and every job it started — the way a scheduler, the OOM killer or a closed terminal
would, or single out one job's process by its command line within that group. Nothing outside
the group is ever signalled.

``reference_run`` is the tiny single-model workflow run once, uninterrupted, per test session:
the interrupted runs compare their results with it, and the determinism test compares a second
fresh run with it. ``data_half_tree`` is the same run stopped after the data half, for runs
that start at training.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import pandas as pd
import pytest
import torch
from workflow_helpers import (
    REPO_ROOT,
    copy_tree,
    copy_workflow,
    run_snakemake,
    tiny_training_config,
)

from weaklesion.training.checkpoints import read_checkpoint

MODEL_RUN = "results/demo/paper/A1/seed0"
# The data half plus the weak targets: everything training reads.
DATA_TARGETS = ("results/demo/paper/split.csv", "results/demo/paper/clusters.parquet",
                "results/demo/paper/targets.h5")
FINAL_TARGETS = ("results/tables/paper_table.md",)
EPOCHS = 3
POLL_S = 0.01
WAIT_S = 240


def fault_config() -> dict:
    """The models test's tiny config cut to one model on 24 images: a whole run, training
    included, takes seconds, and an epoch (4 steps of 4) is long enough to be interrupted."""
    config = tiny_training_config(epochs=EPOCHS, batch_size=4)
    config["models"] = ["A1"]
    config["datasets"]["demo"]["demo"]["n_images"] = 24
    return config


def snakemake_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


_run_numbers = itertools.count()


@dataclass
class BackgroundRun:
    """A Snakemake run in its own process group; its output goes to a file."""

    workdir: Path
    process: subprocess.Popen
    output_path: Path

    @property
    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def wait(self, timeout: float = WAIT_S) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.process.wait(10)
            raise AssertionError(f"Snakemake did not finish in {timeout} s:\n"
                                 f"{self.output[-3000:]}") from None

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to Snakemake and every process it started."""
        with contextlib.suppress(ProcessLookupError):  # the run has ended already
            os.killpg(self.process.pid, signum)

    def group_processes(self) -> dict[int, list[str]]:
        """pid -> command line of every live process in the run's process group."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                if os.getpgid(pid) != self.process.pid:
                    continue
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except (ProcessLookupError, FileNotFoundError, PermissionError):
                continue
            found[pid] = [a.decode(errors="replace") for a in argv if a]
        return found

    def script_process(self, script: str) -> int:
        """The Python process running ``workflow_scripts/<script>``: Snakemake runs rule
        scripts as ``python .snakemake/scripts/tmpXXXX.<script>``. Not the shell around it,
        nor its forked worker processes, which share its command line."""
        matches = {pid for pid, argv in self.group_processes().items()
                   if len(argv) >= 2 and "python" in Path(argv[0]).name
                   and argv[-1].endswith(f".{script}") and ".snakemake/scripts" in argv[-1]}
        main = [pid for pid in matches if _parent(pid) not in matches]
        assert len(main) == 1, f"expected one {script} process, found {sorted(matches)}"
        return main[0]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after it.
    return int(stat.rsplit(")", 1)[1].split()[1])


def start_snakemake(workdir: Path, *args: str) -> BackgroundRun:
    """Start Snakemake as ``run_snakemake`` does, but in the background, in a new session."""
    output_path = workdir.parent / f"snakemake-{next(_run_numbers)}.out"
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--nocolor",
               "--directory", str(workdir), *args]
    with output_path.open("w") as output, interruptible_children():
        process = subprocess.Popen(command, cwd=workdir, env=snakemake_env(), stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return BackgroundRun(workdir, process, output_path)


@contextlib.contextmanager
def interruptible_children() -> Iterator[None]:
    """Children started in the block take SIGINT as a terminal's Ctrl-C does. A shell without
    job control (`cmd &` in a script, nohup) starts its background commands with SIGINT
    ignored, and an ignored signal stays ignored in every child: the SIGINT tests would
    then send a signal nothing receives."""
    before = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def wait_until(condition: Callable[[], object], run: BackgroundRun, what: str,
               timeout: float = WAIT_S):
    """Poll ``condition`` until it is true; fail if the run ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if run.process.poll() is not None:
            raise AssertionError(f"Snakemake ended (status {run.process.returncode}) before "
                                 f"{what}:\n{run.output[-3000:]}")
        time.sleep(POLL_S)
    run.signal_group(signal.SIGKILL)
    raise AssertionError(f"timed out waiting for {what}:\n{run.output[-3000:]}")


def temporary_files(folder: Path) -> list[Path]:
    """What ``weaklesion.utilities.atomic`` writes before the rename: ``.<name>.tmp-*``."""
    return sorted(p for p in folder.rglob(".*.tmp-*"))


def assert_every_output_readable(workdir: Path) -> None:
    """Every file under a final name in results/ is complete: HDF5 stores open and their
    datasets read, checkpoints load, tables parse."""
    for path in sorted((workdir / "results").rglob("*")):
        if not path.is_file() or ".tmp-" in path.name:
            continue
        if path.suffix == ".h5":
            with h5py.File(path, "r") as h5:
                assert len(h5.keys()) > 0, path
                h5.visititems(_read_dataset)
        elif path.suffix == ".pt":
            assert isinstance(read_checkpoint(path)["epoch"], int), path
        elif path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.suffix in {".csv", ".tsv"}:
            pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")


def _read_dataset(name: str, item) -> None:
    if isinstance(item, h5py.Dataset):
        item[()]


def mtimes(workdir: Path, paths) -> dict[str, int]:
    return {p: (workdir / p).stat().st_mtime_ns for p in paths}


def checkpoint_epoch(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])


_DATA_HALF = pytest.StashKey[Path]()
_REFERENCE = pytest.StashKey[Path]()


def data_half_tree(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fault config's data half, finished; copy it (``copy_tree``), do not modify it."""
    if _DATA_HALF not in config.stash:
        workdir = copy_workflow(tmp_path_factory.mktemp("fault-data") / "wf", fault_config())
        result = run_snakemake(workdir, *DATA_TARGETS)
        assert result.returncode == 0, f"the data half failed:\n{result.stdout[-3000:]}"
        config.stash[_DATA_HALF] = workdir
    return config.stash[_DATA_HALF]


def reference_run(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fault config run to the end without interruption (from a fresh copy: its data half
    is ``data_half_tree``'s own run). Do not modify its tree."""
    if _REFERENCE not in config.stash:
        workdir = tmp_path_factory.mktemp("fault-reference") / "wf"
        copy_tree(data_half_tree(config, tmp_path_factory), workdir)
        result = run_snakemake(workdir, *FINAL_TARGETS)
        assert result.returncode == 0, f"the reference run failed:\n{result.stdout[-3000:]}"
        config.stash[_REFERENCE] = workdir
    return config.stash[_REFERENCE]
