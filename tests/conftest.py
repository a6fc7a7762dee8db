"""Shared pytest setup: test helpers in this folder import as top-level modules, and the suite
runs in parallel (``make test``: pytest-xdist) in groups that keep each expensive fixture to
one worker."""

import logging
import os
import runpy
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))

# Parallel workers each start OpenMP threads (torch in the tests, and in the workflow
# jobs they run): more threads than cores. OpenMP's default is to spin while it waits, so a
# spinning thread takes the core another test needs; waiting passively costs nothing
# there. It changes no result. Set before anything loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# A full run peaks at ~1.2 GB of test folders (trained models are ~50 MB each; measured with
# `df` during `.ci/run`); below this the suite would fail deep inside torch.save and h5py.
MIN_FREE_BYTES = 2 * 1024**3


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to start on a nearly full disk, naming the folder and the space left."""
    basetemp = session.config.option.basetemp or tempfile.gettempdir()
    folder = Path(basetemp)
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        pytest.exit(
            f"only {free / 1024**3:.2f} GiB free under {folder}; the tests need about "
            f"{MIN_FREE_BYTES / 1024**3:.0f} GiB there for trained test models and workflow runs. "
            "Free some space or point --basetemp at a roomier disk.",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


# Each module is a group of its own (its module-scoped fixtures are made once), except the
# modules that share a session's workflow run, which go to the same worker with it.
SHARED_RUNS = {
    "test_config_validation": "demo data half",  # workflow_helpers.shared_demo_run
    "test_workflow_dag": "demo data half",
    "test_faults": "fault runs",  # fault_helpers.data_half_tree, reference_run
    "test_determinism": "fault runs",
    "test_workflow_models": "trained models",  # workflow_helpers.trained_models_run
    "test_slurm": "trained models",
    "test_workflow_released": "trained models",
}
# The longest groups start first (each about a minute or more on 2 cores; `make test`'s
# timings in BENCHMARKS.md), so that the last group to finish is a short one.
LONGEST_FIRST = ("trained models", "fault runs", "test_benchmarks", "test_training",
                 "test_sources", "demo data half", "test_fused_passes", "test_protocol_workflow",
                 "test_workflow_download", "test_figures")


def group_of(module: str) -> str:
    return SHARED_RUNS.get(module, module)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent without it
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under xdist each group (:func:`group_of`) is one unit of work, sent whole to a
    worker, in the collection's order (with ``--no-loadscope-reorder``)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(Path(nodeid.split("::")[0]).stem)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the groups longest first; within a group, tests keep their order."""

    def rank(item: pytest.Item) -> int:
        group = group_of(Path(str(item.path)).stem)
        return LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


def run_rule_script(name: str, snakemake) -> None:
    """Run ``workflow_scripts/<name>.py`` as Snakemake would, with ``snakemake`` (a namespace
    standing in for Snakemake's object) as its global."""
    try:
        runpy.run_path(str(REPO_ROOT / "workflow_scripts" / f"{name}.py"),
                       init_globals={"snakemake": snakemake})
    finally:  # rule_logging captures warnings for the process; leave pytest's alone
        logging.captureWarnings(False)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: tiny tensors gain nothing from threads, and on a busy
    2-core runner OpenMP's spinning threads make each step tens of times slower."""
    import torch  # deferred: most modules never need it

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
