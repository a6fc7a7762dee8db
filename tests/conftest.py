"""Shared pytest setup: test helpers in this folder import as top-level modules."""

import logging
import runpy
import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))


def run_rule_script(name: str, snakemake) -> None:
    """Run ``workflow_scripts/<name>.py`` as Snakemake would, with ``snakemake`` (a namespace
    standing in for Snakemake's object) as its global."""
    try:
        runpy.run_path(str(REPO_ROOT / "workflow_scripts" / f"{name}.py"),
                       init_globals={"snakemake": snakemake})
    finally:  # rule_logging captures warnings for the process; leave pytest's alone
        logging.captureWarnings(False)
