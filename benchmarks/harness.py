"""What every CPU benchmark shares: the result record, timers, the machine, cached inputs.

A benchmark script measures ours and a baseline in the same run and returns a
:class:`Result`; ``--json PATH`` writes it for ``benchmarks/run_suite.py``, which turns the
records into the CPU section of ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "weaklesion-bench-cache"


@dataclass
class Target:
    """One goal of the performance issue and how the measurement compares with it."""

    goal: str  # as the issue words it, e.g. "≥ 20× the reference"
    measured: float
    bound: float
    higher_is_better: bool
    unit: str = ""  # printed after the numbers: "×", " s", " %", " lesions/s"
    why: str = ""  # for a missed target: where the time (or memory) goes

    @property
    def met(self) -> bool:
        if self.higher_is_better:
            return self.measured >= self.bound
        return self.measured <= self.bound

    def verdict(self) -> str:
        """"met", or by what factor the measurement misses the goal."""
        if self.met:
            return "met"
        factor = self.bound / self.measured if self.higher_is_better else self.measured / self.bound
        return f"not met: {factor:.2f}× {'short' if self.higher_is_better else 'over'}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met, "verdict": self.verdict()}


@dataclass
class Result:
    """A benchmark's measurements, ready to print and to render into BENCHMARKS.md."""

    name: str  # file stem under benchmarks/results/cpu/
    title: str
    inputs: str  # what was measured on, in words
    table: list[dict[str, Any]]  # rows of the section's table; keys are its columns
    targets: list[Target] = field(default_factory=list)
    reported: list[tuple[str, str]] = field(default_factory=list)  # (what, value): no target
    notes: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)  # raw measurements
    command: str = ""
    date: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the whole benchmark

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["targets"] = [t.as_dict() for t in self.targets]
        return record


def core_scaling(speedup: float, workers: int, serial_part: str) -> Target:
    """"Parallel over all cores", made checkable: a speed-up of at least 80 % of the ideal.
    ``serial_part`` says what the stage does outside its workers, for a missed target."""
    target = Target(f"parallel over all {workers} cores (taken as a speed-up ≥ 80 % of "
                    f"{workers}×)", speedup, 0.8 * workers, True, "×")
    target.why = f"{serial_part}, and the machine's other load takes a share of the cores"
    return target


def machine() -> dict[str, Any]:
    """The facts that decide how comparable two runs are."""
    import numpy

    facts: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gib": round(_total_memory() / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def wall(function: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call, by the wall clock."""
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


@contextlib.contextmanager
def timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the block to ``seconds[name]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Pin this process to one CPU for the block (where the OS allows), then release it."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", type=Path, help="write the result record here")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"generated inputs are kept here between runs ({DEFAULT_CACHE})")
    return parser


def finish(result: Result, argv: Sequence[str] | None, started: float,
           json_path: Path | None) -> Result:
    """Stamp the record with command, date and machine; print it; write it if asked."""
    args = list(sys.argv[1:] if argv is None else argv)
    result.command = shlex.join([".venv/bin/python", f"benchmarks/bench_{result.name}.py",
                                 *_without_output_options(args)])
    result.date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    result.machine = machine()
    result.seconds = round(time.perf_counter() - started, 1)
    print_result(result)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.as_dict(), indent=2, ensure_ascii=False) + "\n")
    return result


_OUTPUT_OPTIONS = ("--json", "--cache")


def _without_output_options(args: list[str]) -> list[str]:
    """The arguments that change what is measured: where results and inputs go does not."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in _OUTPUT_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in _OUTPUT_OPTIONS)):
            kept.append(arg)
    return kept


def print_result(result: Result) -> None:
    print(f"== {result.title} ==")
    print(f"   {result.inputs}")
    for row in result.table:
        print("   " + " | ".join(f"{k}: {v}" for k, v in row.items()))
    for what, value in result.reported:
        print(f"   {what}: {value}")
    for target in result.targets:
        print(f"   target {target.goal}: {target.measured:,.3g}{target.unit} → {target.verdict()}")
        if target.why and not target.met:
            print(f"      why: {target.why}")
    for note in result.notes:
        print(f"   note: {note}")


def run_python(args: Sequence[str], *, env: dict[str, str] | None = None,
               timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """This interpreter on ``args`` with the repository importable, output captured."""
    environment = child_env(env)
    result = subprocess.run([sys.executable, *args], cwd=REPO, env=environment, text=True,
                            capture_output=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with this checkout first on PYTHONPATH, for
    benchmark child processes that import weaklesion."""
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), environment.get("PYTHONPATH")]))
    return environment


def demo_archives(cache: Path, n_images: int, width: int, height: int) -> Path:
    """The synthetic HAM10000-layout archives of ``n_images`` images, generated once.

    Generated in a child process: OpenCV's worker threads, once started in a process, make
    forked workers of that process hang, and the benchmarks fork.
    """
    folder = Path(cache) / f"demo-{n_images}-{width}x{height}"
    if not (folder / "manifest.tsv").is_file():
        run_python(["-c", "import sys; from pathlib import Path; "
                    "from weaklesion.datasets.demo import write_demo_dataset; "
                    "write_demo_dataset(Path(sys.argv[1]), n_images=int(sys.argv[2]), "
                    "width=int(sys.argv[3]), height=int(sys.argv[4]))",
                    str(folder), str(n_images), str(width), str(height)])
    return folder
