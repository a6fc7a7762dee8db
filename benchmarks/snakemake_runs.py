"""Timed Snakemake runs on a scratch copy of the workflow, for bench_noop and bench_dag.

Snakemake never runs in the repository itself: each benchmark copies the workflow's files
(as the tests do, with the same helper) and gives the copy its own config.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness import REPO

sys.path.insert(0, str(REPO / "tests"))

from workflow_helpers import WORKFLOW_PATHS, copy_workflow, job_stats  # noqa: E402


def snakemake(workdir: Path, *args: str, timeout: float | None = 900) -> tuple[float, str]:
    """(wall seconds, merged output) of ``snakemake ARGS`` in ``workdir``; fails loudly."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "snakemake", "--nocolor", "--directory", str(workdir),
               *args]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed in {workdir}:\n"
                           f"{result.stdout[-4000:]}")
    return seconds, result.stdout


def planned_jobs(output: str) -> dict[str, int]:
    """Rule → jobs a dry run plans (empty when Snakemake says there is nothing to be done)."""
    return job_stats(output)


def workflow_copy(dest: Path, config: Mapping[str, Any] | None) -> Path:
    return copy_workflow(dest, config)


def workflow_fingerprint(config: Mapping[str, Any]) -> str:
    """Changes whenever a rerun could be due: the workflow's files, the config, Snakemake."""
    import snakemake

    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    digest.update(snakemake.__version__.encode())
    for name in WORKFLOW_PATHS:
        root = REPO / name
        for path in sorted([root] if root.is_file() else root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run_folder(cache: Path, name: str, config: dict, targets: list[str]) -> Path:
    """Where ``completed_run`` keeps the run of ``config`` to ``targets``: its copy of the
    workflow in ``wf/``, and a ``complete`` file once the run has finished."""
    return Path(cache) / f"{name}-{workflow_fingerprint({**config, 'targets': targets})}"


def completed_run(cache: Path, name: str, config: dict, targets: list[str]
                  ) -> tuple[Path, float, bool]:
    """A scratch copy of the workflow run to ``targets`` (all when empty) on ``config``, the
    seconds the run took, and whether it was cached: a finished copy of the same workflow
    files, config and targets under ``cache`` is used as it is."""
    folder = run_folder(cache, name, config, targets)
    workdir, done = folder / "wf", folder / "complete"
    if done.is_file():
        return workdir, float(done.read_text()), True
    shutil.rmtree(folder, ignore_errors=True)
    workflow_copy(workdir, config)
    seconds, _ = snakemake(workdir, "--cores", "all", *targets, timeout=None)
    done.write_text(f"{seconds:.1f}\n")
    return workdir, seconds, False


def bare_workflow(dest: Path) -> Path:
    """A workflow of one rule with nothing to do: what Snakemake's start-up alone costs."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "Snakefile").write_text('rule all:\n    input: []\n')
    return dest
