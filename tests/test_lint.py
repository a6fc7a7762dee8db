"""The workflow and the code pass the project's linters and formatters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workflow_helpers import REPO_ROOT, copy_workflow, run_snakemake


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=REPO_ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120, check=False)


def test_snakemake_lint_finds_nothing(tmp_path: Path):
    # The copy holds the repository's own default config.
    result = run_snakemake(copy_workflow(tmp_path / "wf"), "--lint")
    assert result.returncode == 0, result.stdout
    assert "Lints for" not in result.stdout
    assert "your workflow is in a good condition" in result.stdout


def test_snakefmt_leaves_the_workflow_as_it_is():
    result = run_tool("snakefmt", "--check", ".")
    assert result.returncode == 0, run_tool("snakefmt", "--compact-diff", ".").stdout


def test_ruff_finds_nothing():
    result = run_tool("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout
