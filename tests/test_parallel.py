"""Worker pools: results in order, errors raised in the parent, and no way to hang on exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from weaklesion.utilities.logs import rule_logging
from weaklesion.utilities.worker_pool import (
    RemoteTraceback,
    WorkerError,
    WorkerPool,
    worker_context,
)


def _sigterm_handler_is_default(_: int) -> bool:
    return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def _pid(_: int) -> int:
    return os.getpid()


def _remember(path: str) -> None:
    with open(path, "a") as handle:
        handle.write(f"{os.getpid()}\n")


def _square_after_a_while(value: int) -> int:
    time.sleep(0.002 * (value % 5))  # uneven durations, so workers finish out of order
    return value * value


def _fail_on_seven(value: int) -> int:
    if value == 7:
        raise KeyError(f"no value for {value}")
    return value


def _die_on_three(value: int) -> int:
    if value == 3:
        os._exit(9)
    return value


def _unpicklable(value: int):
    return lambda: value


def _refuse_to_start() -> None:
    raise OSError("the worker cannot open its model file")


_started = None  # a shared counter, set before the pool forks


def _count_or_wait(value: int) -> int:
    if value == 0:
        time.sleep(0.5)
        return _started.value
    with _started.get_lock():
        _started.value += 1
    return value


def test_workers_take_sigterms_default_action_under_rule_logging(tmp_path):
    started = tmp_path / "started"
    with rule_logging(tmp_path / "rule.log"):
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the rule's own handler
        with WorkerPool(2, _remember, (str(started),)) as pool:
            assert pool.map(_sigterm_handler_is_default, range(8), chunksize=1) == [True] * 8
            workers = set(pool.map(_pid, range(8), chunksize=1))
    assert workers <= {int(line) for line in started.read_text().split()}  # initializer ran
    assert len(workers) == 2


@pytest.mark.parametrize("chunksize", [1, 3, 64])
def test_results_come_in_item_order_from_any_iterable(chunksize):
    items = iter(range(50))  # a generator has no len(): GrabCut passes a zip
    with WorkerPool(2) as pool:
        assert list(pool.imap(_square_after_a_while, items, chunksize)) == [
            v * v for v in range(50)]
        assert list(pool.imap(_square_after_a_while, [], chunksize)) == []
        # The pool is reusable once an imap has been read to its end.
        assert pool.map(_square_after_a_while, range(5)) == [0, 1, 4, 9, 16]
    assert all(not _alive(pid) for pid in pool.pids)


def test_an_error_in_a_worker_is_raised_in_the_parent_with_its_traceback():
    with pytest.raises(KeyError, match="no value for 7") as raised, WorkerPool(2) as pool:
        list(pool.imap(_fail_on_seven, range(20), chunksize=2))
    assert isinstance(raised.value.__cause__, RemoteTraceback)
    assert "_fail_on_seven" in str(raised.value.__cause__)
    assert all(not _alive(pid) for pid in pool.pids)


def test_a_worker_that_dies_is_an_error_not_a_hang():
    with pytest.raises(WorkerError, match="died with exit code 9"), WorkerPool(2) as pool:
        list(pool.imap(_die_on_three, range(10)))
    assert all(not _alive(pid) for pid in pool.pids)


def test_a_result_that_cannot_be_sent_back_is_an_error_naming_why():
    unsendable = pytest.raises(WorkerError, match="could not send the result back")
    with unsendable, WorkerPool(2) as pool:
        pool.map(_unpicklable, range(4))


def test_an_initializer_that_fails_is_raised_at_the_first_task():
    refused = pytest.raises(OSError, match="cannot open its model file")
    with refused, WorkerPool(2, _refuse_to_start) as pool:
        pool.map(_pid, range(4))


def test_workers_run_at_most_lookahead_items_ahead_of_the_consumer():
    """Item 0 is slow; the others must wait for it to be taken, not pile up in memory."""
    global _started
    _started = worker_context().Value("i", 0)
    with WorkerPool(2) as pool:
        first = next(pool.imap(_count_or_wait, range(200), chunksize=1, lookahead=8))
    assert 1 <= first <= 7  # the other worker went on, but only to item 7


def test_failing_while_workers_send_large_results_never_hangs():
    """The parent stops reading and kills the workers while they may be mid-send.

    ``multiprocessing.Pool`` shares one lock among its workers' result sends; a worker killed
    while holding it left ``Pool.terminate()`` waiting forever (the CI hang this replaced).
    Run in a child process with a time limit, so a regression fails instead of hanging.
    """
    script = textwrap.dedent("""
        import time
        import numpy as np
        from weaklesion.utilities.worker_pool import WorkerPool

        def result(value):
            time.sleep(0.001)
            return np.full(1000, value)

        for attempt in range(300):
            try:
                with WorkerPool(2) as pool:
                    for array in pool.imap(result, range(6)):
                        if array[0] == 2:
                            raise LookupError("stop")
            except LookupError:
                pass
        print("done")
    """)
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "done"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(pid, 0): only a reaped worker counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"



@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the point
def test_a_sigterm_python_drops_inside_a_weakref_callback_still_fails_the_step(tmp_path):
    """A SIGTERM whose exception lands in a weakref callback is printed as "Exception ignored"
    and lost; the step then runs to its end but must still end as terminated (seen when a
    preprocessing job was killed while the garbage collector ran such a callback)."""
    import weakref

    class Item:
        pass

    def kill_myself(_):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs here, inside the callback
            pass

    log = tmp_path / "rule.log"
    finished = []
    with pytest.raises(SystemExit) as stopped, rule_logging(log):
        item = Item()
        reference = weakref.ref(item, kill_myself)
        del item  # the callback runs now; Python ignores the exception raised in it
        assert reference() is None
        finished.append(True)
    assert finished == [True]  # the exception was dropped: the block went on to its end
    assert stopped.value.code == 128 + signal.SIGTERM
    assert "terminated by SIGTERM" in log.read_text()
