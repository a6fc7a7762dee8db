"""Worker processes for the CPU-bound stages (preprocessing, GrabCut).

Each worker talks to the parent over a pipe of its own, and no lock is shared between
processes. ``multiprocessing.Pool`` shares one result queue, guarded by a lock, among all
its workers: ``Pool.terminate()`` on an error could kill a worker while it held that lock,
and the pool's own shutdown then waited for the lock forever (seen in about 1 of 30 failed
preprocessing runs). Here a worker can be killed at any moment without stranding the rest.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from typing import Any

_SHUTDOWN_SECONDS = 10.0


class WorkerError(RuntimeError):
    """A worker process died, or its exception could not be sent back to the parent."""


class RemoteTraceback(Exception):
    """The worker's formatted traceback, attached as the cause of an error it raised."""


def worker_context() -> BaseContext:
    """Fork where the OS has it.

    Snakemake runs rule scripts as unguarded ``__main__`` modules; spawned or forkserver
    workers would re-execute the script on import, so fork is the only safe choice there.
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class WorkerPool:
    """``workers`` processes that map a function over items and return results in order.

    The processes start here, before the caller builds anything large: a forked worker maps
    its parent's heap, and everything allocated before the fork stays resident once more in
    each worker. Fork where the OS has it (:func:`worker_context`).

    Used as a context manager: leaving the block normally lets the workers finish and exit,
    leaving it by an exception kills them at once.
    """

    def __init__(self, workers: int, initializer: Callable[..., None] | None = None,
                 initargs: tuple[Any, ...] = ()):
        if workers < 1:
            raise ValueError(f"WorkerPool needs at least one worker, got {workers}")
        context = worker_context()
        self._workers: list[tuple[Any, Connection]] = []
        with _opencv_threads_stopped():
            for _ in range(workers):
                parent_end, child_end = context.Pipe()
                process = context.Process(target=_serve, args=(child_end, initializer, initargs),
                                          daemon=True)
                process.start()
                child_end.close()
                self._workers.append((process, parent_end))
        self._busy: dict[Connection, int] = {}

    @property
    def pids(self) -> list[int]:
        return [process.pid for process, _ in self._workers]

    def imap(self, function: Callable[[Any], Any], items: Iterable[Any], chunksize: int = 1,
             lookahead: int | None = None) -> Iterator[Any]:
        """``function(item)`` for every item, in item order, computed in the workers.

        At most ``lookahead`` items (default: two chunks per worker) are being computed or
        wait, computed, for the consumer: results of a fast pool never pile up in memory
        behind a slow consumer such as the HDF5 writer.
        """
        if self._busy:
            raise RuntimeError("WorkerPool.imap: the previous imap was not read to its end")
        if lookahead is None:
            lookahead_chunks = 2 * len(self._workers)
        else:
            lookahead_chunks = max(len(self._workers), -(-lookahead // chunksize))
        chunks = _chunked(items, chunksize)
        idle = [connection for _, connection in self._workers]
        finished: dict[int, list[Any]] = {}
        sent = next_to_yield = 0
        exhausted = False
        while True:
            while idle and not exhausted and sent < next_to_yield + lookahead_chunks:
                chunk = next(chunks, None)
                if chunk is None:
                    exhausted = True
                    break
                connection = idle.pop()
                connection.send((function, chunk))
                self._busy[connection] = sent
                sent += 1
            if next_to_yield in finished:
                yield from finished.pop(next_to_yield)
                next_to_yield += 1
                continue
            if exhausted and next_to_yield == sent:
                return
            for connection in wait(list(self._busy)):
                finished[self._busy.pop(connection)] = self._receive(connection)
                idle.append(connection)

    def map(self, function: Callable[[Any], Any], items: Iterable[Any],
            chunksize: int = 1) -> list[Any]:
        return list(self.imap(function, items, chunksize))

    def _receive(self, connection: Connection) -> list[Any]:
        """A busy worker's reply; its pipe ends early only when the worker died."""
        try:
            reply = connection.recv()
        except EOFError:
            process = next(p for p, c in self._workers if c is connection)
            process.join()
            raise WorkerError(f"worker process {process.pid} died with exit code "
                              f"{process.exitcode} while it computed a chunk") from None
        return _unpack(reply)

    def close(self) -> None:
        """Ask every worker to exit and wait for it; kill those that do not within 10 s."""
        if self._busy:  # an imap left unread: its workers may block sending their results
            self.terminate()
            return
        for _, connection in self._workers:
            with contextlib.suppress(OSError):
                connection.send(None)
        for process, _ in self._workers:
            process.join(_SHUTDOWN_SECONDS)
        self.terminate()

    def terminate(self) -> None:
        """Kill every worker still running and reap it."""
        for process, connection in self._workers:
            if process.exitcode is None:
                process.kill()
            process.join()
            connection.close()
        self._busy.clear()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, error_type, error, tb) -> None:
        if error_type is None:
            self.close()
        else:
            self.terminate()


def _chunked(items: Iterable[Any], chunksize: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, chunksize)):
        yield chunk


def _serve(connection: Connection, initializer: Callable[..., None] | None,
           initargs: tuple[Any, ...]) -> None:
    """A worker's loop: receive ``(function, chunk)``, send back the results or the error.

    Workers take SIGTERM's default action (die at once) whatever handler the parent set,
    and leave Ctrl-C to the parent, which then kills them.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    failed_start = None
    if initializer is not None:
        try:
            initializer(*initargs)
        except Exception as error:  # reported with every task, so the parent raises it
            failed_start = _failure(error)
    while True:
        try:
            task = connection.recv()
        except EOFError:
            return  # the parent is gone
        if task is None:
            return
        if failed_start is not None:
            connection.send(failed_start)
            continue
        function, chunk = task
        try:
            reply = (True, [function(item) for item in chunk])
        except Exception as error:
            reply = _failure(error)
        try:
            connection.send(reply)
        except OSError:
            return  # the parent is gone
        except Exception as error:  # a result or an exception that does not pickle
            connection.send((False, (WorkerError(f"could not send the result back: {error!r}"),
                                     traceback.format_exc())))


def _failure(error: Exception) -> tuple[bool, tuple[Exception, str]]:
    return False, (error, traceback.format_exc())


def _unpack(reply: tuple[bool, Any]) -> list[Any]:
    ok, payload = reply
    if ok:
        return payload
    error, remote_traceback = payload
    raise error from RemoteTraceback(remote_traceback)


@contextlib.contextmanager
def _opencv_threads_stopped() -> Iterator[None]:
    """Stop OpenCV's worker threads while forking.

    A process that has run a multi-threaded OpenCV function holds OpenCV's worker threads;
    forked children inherit their locks but not the threads, and hang at their first OpenCV
    call.
    """
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


@contextlib.contextmanager
def optional_pool(workers: int, initializer: Callable[..., None] | None = None,
                  initargs: tuple[Any, ...] = ()) -> Iterator[WorkerPool | None]:
    """A :class:`WorkerPool` of ``workers`` processes, or None (work in this process) for one."""
    if workers <= 1:
        yield None
        return
    with WorkerPool(workers, initializer, initargs) as pool:
        yield pool
