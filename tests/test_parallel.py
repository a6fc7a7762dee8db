"""Worker pools: workers die on SIGTERM even when the rule script turned SIGTERM into an
exception, so that ``Pool.terminate()`` (at the end of every ``with worker_pool(...)``) never
waits on a worker that missed the signal."""

from __future__ import annotations

import os
import signal

from weaklesion.logs import rule_logging
from weaklesion.parallel import worker_pool


def _sigterm_handler_is_default(_: int) -> bool:
    return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def _pid(_: int) -> int:
    return os.getpid()


def _remember(path: str) -> None:
    with open(path, "a") as handle:
        handle.write(f"{os.getpid()}\n")


def test_workers_take_sigterms_default_action_under_rule_logging(tmp_path):
    started = tmp_path / "started"
    with rule_logging(tmp_path / "rule.log"):
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the rule's own handler
        with worker_pool(2, _remember, (str(started),)) as pool:
            assert pool.map(_sigterm_handler_is_default, range(8), chunksize=1) == [True] * 8
            workers = set(pool.map(_pid, range(8), chunksize=1))
    assert workers <= {int(line) for line in started.read_text().split()}  # initializer ran

