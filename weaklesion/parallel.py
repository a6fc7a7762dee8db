"""Worker processes for the CPU-bound stages (preprocessing, GrabCut)."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
from collections.abc import Callable, Iterator
from multiprocessing.context import BaseContext
from multiprocessing.pool import Pool
from typing import Any


def worker_context() -> BaseContext:
    """Fork where the OS has it.

    Snakemake runs rule scripts as unguarded ``__main__`` modules; spawned or forkserver
    workers would re-execute the script on import, so fork is the only safe choice there.
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def worker_pool(workers: int, initializer: Callable[..., None] | None = None,
                initargs: tuple[Any, ...] = ()) -> Pool:
    """A pool of ``workers`` processes from :func:`worker_context`, safe to fork after OpenCV.

    A process that has run a multi-threaded OpenCV function holds OpenCV's worker threads;
    forked children inherit their locks but not the threads, and hang at their first OpenCV
    call. Those threads are stopped while the pool forks and allowed again afterwards.

    Workers take SIGTERM's default action (die at once), whatever handler the parent set:
    ``Pool.terminate()`` ends them with SIGTERM while they block on the task queue's lock,
    and a Python-level handler can miss a signal that lands just before that blocking call,
    leaving the worker, and the parent joining it, waiting forever.
    """
    with _opencv_threads_stopped():
        return worker_context().Pool(workers, _start_worker, (initializer, initargs))


def _start_worker(initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer(*initargs)


@contextlib.contextmanager
def _opencv_threads_stopped() -> Iterator[None]:
    cv2 = sys.modules.get("cv2")
    if cv2 is None or not hasattr(cv2, "setNumThreads"):
        yield  # OpenCV not loaded: no threads to stop
        return
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)
