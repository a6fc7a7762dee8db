"""Worker processes for the CPU-bound stages (preprocessing, GrabCut)."""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext


def worker_context() -> BaseContext:
    """Fork where the OS has it.

    Snakemake runs rule scripts as unguarded ``__main__`` modules; spawned or forkserver
    workers would re-execute the script on import, so fork is the only safe choice there.
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")
