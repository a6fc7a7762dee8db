"""The SLURM profile against a real SLURM: a single-node cluster started on this host.

The workflow's tiny config runs through `profiles/slurm` exactly as the README's cluster
section says, with the flags this host needs (no accounting database: squeue for status;
two CPUs and no GPU). The jobs must really go through sbatch, and the results must equal a
local run's (the models test's run of the same config, with the same threads per job). Runs
where SLURM can be installed and started (root); `.ci/run` requires it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from workflow_helpers import (
    REPO_ROOT,
    TRAINED_RUN_ARGS,
    copy_workflow,
    run_snakemake,
    tiny_training_config,
    trained_models_run,
)

pytestmark = pytest.mark.slow
TESTBED = REPO_ROOT / "tools" / "slurm_testbed.sh"
# The README's cluster command, plus what this CI host needs: squeue for job status (no
# sacct), at most 2 CPUs per job, and no GPU request (the node has none); the local run's
# threads per job, so that the results can be compared byte for byte; and a job status read
# every second rather than every 10 (after 40 s), as a one-node test cluster allows.
SLURM_ARGS = ("--workflow-profile", "profiles/slurm", "--slurm-status-command", "squeue",
              "--max-threads", "2", "--set-resources", "train_model:gpu=0",
              "evaluate_model:gpu=0", *TRAINED_RUN_ARGS,
              "--slurm-init-seconds-before-status-checks", "1",
              "--seconds-between-status-checks", "1")


def _unavailable(reason: str):
    if os.environ.get("WEAKLESION_REQUIRE_SLURM"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if os.geteuid() != 0:
        _unavailable("starting slurmctld/slurmd needs root")
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        _unavailable("SLURM is not installed and apt-get is not available")
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run([str(TESTBED), "start", str(folder)], capture_output=True,
                             text=True, timeout=600)
    pids = [folder / "slurmctld.pid", folder / "slurmd.pid", folder / "munge/munged.pid"]
    try:
        if started.returncode != 0:
            _unavailable(f"could not start a test SLURM: {started.stderr[-2000:]}")
        yield {"SLURM_CONF": str(folder / "slurm.conf"),
               "pids": [int(p.read_text()) for p in pids]}
    finally:
        subprocess.run([str(TESTBED), "stop", str(folder)], timeout=120, check=False)
    for pid_file in pids:
        assert not pid_file.exists()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def slurm_run(slurm, tmp_path_factory) -> tuple[Path, str]:
    workdir = copy_workflow(tmp_path_factory.mktemp("on-slurm") / "wf", tiny_training_config())
    os.environ["SLURM_CONF"] = slurm["SLURM_CONF"]
    try:
        result = run_snakemake(workdir, *SLURM_ARGS, timeout=1500)
    finally:
        del os.environ["SLURM_CONF"]
    assert result.returncode == 0, result.stdout[-5000:]
    return workdir, result.stdout


def test_jobs_go_through_sbatch(slurm, slurm_run):
    workdir, output = slurm_run
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", output)
    # One job for the data steps, one per model run (training, then evaluation).
    assert len(job_ids) == 1 + 3, output[-3000:]
    env = {**os.environ, "SLURM_CONF": slurm["SLURM_CONF"]}
    for job_id in job_ids:
        shown = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True,
                               text=True, env=env, timeout=30)
        assert "JobState=COMPLETED" in shown.stdout, shown.stdout + shown.stderr
    assert all(_pid_alive(pid) for pid in slurm["pids"])
    # The trained model's log was written inside a SLURM job.
    assert (workdir / "results/demo/paper/A1/seed0/train.log").read_text().count("epoch 2:") == 1


def test_results_equal_a_local_run(slurm_run, request, tmp_path_factory):
    workdir, _ = slurm_run
    local = trained_models_run(request.config, tmp_path_factory)
    for name in ("split.csv", "centroids.csv", "excluded.csv"):
        assert (workdir / "results/demo/paper" / name).read_bytes() == (
            local / "results/demo/paper" / name).read_bytes(), name
    for relative in ["results/demo/paper/clusters.parquet",
                     "results/demo/paper/ellipses.parquet",
                     *(f"results/demo/paper/{m}/seed0/metrics.parquet"
                       for m in ("A1", "A1+L", "ACoseg"))]:
        pd.testing.assert_frame_equal(pd.read_parquet(workdir / relative),
                                      pd.read_parquet(local / relative), obj=relative)
    assert (workdir / "results/tables/paper_table.csv").read_bytes() == (
        local / "results/tables/paper_table.csv").read_bytes()
