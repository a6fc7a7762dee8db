"""Run the Snakemake workflow in a scratch copy and read what it planned or did.

Tests never run Snakemake in the repository itself: every run gets its own copy of the
workflow files, so runs cannot see each other's outputs or locks, nor an engineer's.
The copy's ``config/config.yaml`` (the default config, named by ``profiles/default``) is
replaced by the test's config.

``shared_demo_run`` runs the data half of the tiny demo once per session for all test
modules; tests take private copies of its finished tree.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_PATHS = (
    "Snakefile", "rules", "workflow_scripts", "schemas", "config", "report", "envs", "profiles",
)
# 30 small images: the whole data half runs in a few seconds on 2 cores.
TINY_DEMO_CONFIG: dict[str, Any] = {
    "datasets": {
        "demo": {"format": "demo", "k": 3, "demo": {"n_images": 30, "width": 160, "height": 120}},
    },
}
DATA_HALF_OUTPUTS = (
    "results/demo/paper/split.csv",
    "results/demo/paper/clusters.parquet",
    "results/demo/paper/ellipses.parquet",
)
SNAKEMAKE_TIMEOUT_S = 300


MODELS = ["A1", "A1+L", "ACoseg"]


def tiny_training_config(protocols=("paper",), fast_paths=None, **train_changes) -> dict:
    """The tiny demo trained end to end: every model, one seed, two epochs of resnet18."""
    config = tiny_demo_config(demo={"n_images": 40, "width": 160, "height": 120})
    config.update(models=MODELS, seeds=[0], protocols=list(protocols))
    config["train"] = {"encoder": "resnet18", "encoder_weights": None, "geometry": "compact",
                       "epochs": 2, **train_changes}
    # Two simulated GPUs, locked in the run's own folder (see `trained_models_run`).
    config["gpus"] = {"devices": ["0", "1"], "lock_dir": "gpu-locks", **(fast_paths or {})}
    return config


# The trained run's jobs use one thread each, so that two GPU jobs share the two cores.
TRAINED_RUN_ARGS = ("--set-threads", "train_model=1", "evaluate_model=1")


def validated(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as the Snakefile sees it: checked against the schema, defaults filled in."""
    from snakemake.utils import validate  # deferred: most tests never need it

    config = copy.deepcopy(dict(config))
    validate(config, str(REPO_ROOT / "schemas" / "config.schema.yaml"))
    return config


def validated_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One dataset entry with the schema's defaults filled in."""
    return validated({"datasets": {"entry": entry}})["datasets"]["entry"]


def tiny_demo_config(**dataset_changes: Any) -> dict[str, Any]:
    """The tiny demo config, with keys of its ``demo`` dataset entry replaced."""
    config = copy.deepcopy(TINY_DEMO_CONFIG)
    config["datasets"]["demo"].update(dataset_changes)
    return config


def copy_workflow(dest: Path, config: Mapping[str, Any] | None = None) -> Path:
    """Copy the workflow files into ``dest`` (created); write ``config`` if given."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_PATHS:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    if config is not None:
        write_config(dest, config)
    return dest


def write_config(workdir: Path, config: Mapping[str, Any]) -> Path:
    """Make ``config`` the copy's default config (what profiles/default names)."""
    path = workdir / "config" / "config.yaml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path


def copy_tree(source: Path, dest: Path) -> Path:
    """Copy a workflow run folder, keeping modification times so nothing looks outdated."""
    shutil.copytree(source, dest, symlinks=True)
    return dest


def run_snakemake(workdir: Path, *args: str,
                  timeout: float = SNAKEMAKE_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run this interpreter's Snakemake in ``workdir`` (its workflow profile applies).

    stderr is merged into stdout: Snakemake writes its job table and errors to stderr.
    """
    env = dict(os.environ)
    # The rule scripts import the working tree's package, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--nocolor",
               "--directory", str(workdir), *args]
    return subprocess.run(command, cwd=workdir, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)


def dry_run(workdir: Path, *targets: str) -> DryRun:
    """Plan the given targets (the default target if none); fail the test if planning fails."""
    result = run_snakemake(workdir, "--dry-run", *targets)
    assert result.returncode == 0, f"dry run failed:\n{result.stdout}"
    return DryRun(job_stats(result.stdout), parse_jobs(result.stdout), result.stdout)


@dataclass
class Job:
    """One job block of Snakemake's output: the rule and its ``key: value`` lines."""

    rule: str
    fields: dict[str, str] = field(default_factory=dict)

    def paths(self, key: str) -> list[str]:
        """A comma-separated field (input, output, log) as a list of paths."""
        value = self.fields.get(key, "")
        return [p.strip() for p in value.split(",") if p.strip()]

    @property
    def wildcards(self) -> dict[str, str]:
        pairs = (item.split("=", 1) for item in self.paths("wildcards"))
        return {name: value for name, value in pairs}


@dataclass
class DryRun:
    stats: dict[str, int]
    jobs: list[Job]
    output: str

    @property
    def rules(self) -> set[str]:
        return set(self.stats)


_STATS_ROW = re.compile(r"^(\S+)\s+(\d+)$")
_JOB_HEADER = re.compile(r"^(?:local)?rule (\S+):$")
_JOB_FIELD = re.compile(r"^ {4}(\w+): (.*)$")


def job_stats(output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's "Job stats" table; empty if nothing is to be done.

    Snakemake prints the table before and after the job list; the two are the same.
    """
    if "Nothing to be done" in output:
        return {}
    lines = output.splitlines()
    try:
        start = lines.index("Job stats:")
    except ValueError:
        raise AssertionError(f"no 'Job stats' table in Snakemake's output:\n{output}") from None
    # Header ("job count") and rule ("---- ----") lines precede the rows.
    stats: dict[str, int] = {}
    for line in lines[start + 3:]:
        match = _STATS_ROW.match(line.strip())
        if match is None:
            raise AssertionError(f"unexpected line {line!r} in the job table:\n{output}")
        name, count = match.group(1), int(match.group(2))
        if name == "total":
            assert count == sum(stats.values()), f"job table does not add up:\n{output}"
            return stats
        stats[name] = count
    raise AssertionError(f"job table without a 'total' row:\n{output}")


def parse_jobs(output: str) -> list[Job]:
    """Every job block ("rule NAME:" or "localrule NAME:" and its indented fields)."""
    jobs: list[Job] = []
    current: Job | None = None
    for line in output.splitlines():
        header = _JOB_HEADER.match(line)
        if header:
            current = Job(header.group(1))
            jobs.append(current)
            continue
        entry = _JOB_FIELD.match(line) if current is not None else None
        if entry:
            current.fields[entry.group(1)] = entry.group(2)
        else:
            current = None
    return jobs


@dataclass
class CompletedRun:
    workdir: Path
    result: subprocess.CompletedProcess[str]

    @property
    def jobs(self) -> list[Job]:
        return parse_jobs(self.result.stdout)


_DEMO_RUN = pytest.StashKey[CompletedRun]()
_TRAINED_RUN = pytest.StashKey[Path]()


def shared_demo_run(config: pytest.Config,
                    tmp_path_factory: pytest.TempPathFactory) -> CompletedRun:
    """The data half of the tiny demo, run for real once per test session, whichever test
    module asks first. Do not modify its tree: copy it (``copy_tree``)."""
    if _DEMO_RUN not in config.stash:
        workdir = copy_workflow(tmp_path_factory.mktemp("demo-run") / "wf", TINY_DEMO_CONFIG)
        result = run_snakemake(workdir, *DATA_HALF_OUTPUTS)
        assert result.returncode == 0, f"the demo's data half failed:\n{result.stdout}"
        config.stash[_DEMO_RUN] = CompletedRun(workdir, result)
    return config.stash[_DEMO_RUN]


def trained_models_run(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole workflow on ``tiny_training_config()`` under protocol paper, once per
    session (the models test and the SLURM test share it), on a machine with two simulated
    GPUs: the GPU jobs claim them (weaklesion.training.devices), two at a time. Tests that
    change its config put it back; results are never changed."""
    if _TRAINED_RUN not in config.stash:
        workdir = copy_workflow(tmp_path_factory.mktemp("models") / "wf", tiny_training_config())
        result = run_snakemake(workdir, "--resources", "gpu=2", *TRAINED_RUN_ARGS, timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        config.stash[_TRAINED_RUN] = workdir
    return config.stash[_TRAINED_RUN]
