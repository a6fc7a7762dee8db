"""Shared pytest setup: test helpers in this folder import as top-level modules."""

import logging
import runpy
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))

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
