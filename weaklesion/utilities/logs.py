"""Logging for rule scripts: everything a step prints goes to its Snakemake log file."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from weaklesion.errors import WeaklesionError


class Terminated(BaseException):
    """SIGTERM arrived (a scheduler's time limit, ``scancel``, ``kill``).

    Raised in the rule script's main thread so that the step unwinds like on Ctrl-C: temporary
    files are removed and the last complete checkpoint stays for the rerun to resume from.
    A BaseException, so that ``except Exception`` blocks do not swallow it.
    """


@contextlib.contextmanager
def rule_logging(log_path: str | Path) -> Iterator[logging.Logger]:
    """Send logging, warnings and stderr (tqdm's progress bars) to ``log_path``.

    A WeaklesionError — bad input, not a bug — is logged as one clear line; anything else
    keeps its traceback. Either way the error is re-raised so the job fails. Ctrl-C and SIGTERM
    (through :class:`Terminated`, exit status 143 as for a kill) are logged as one line.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", buffering=1) as stream, _sigterm_unwinds() as sigterm:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        original_stderr = sys.stderr
        sys.stderr = stream
        logger = logging.getLogger("weaklesion")
        try:
            yield logger
            if sigterm.received:
                # Python drops an exception raised while a weakref callback or __del__ runs
                # ("Exception ignored in ..."): the step went on to its end, but it was told to
                # stop, and its job must not count as done.
                raise Terminated
        except WeaklesionError as error:
            logger.error("%s", error)
            print(f"weaklesion error: {error}", file=original_stderr)
            raise
        except (Terminated, KeyboardInterrupt) as stop:
            cause = "terminated by SIGTERM" if isinstance(stop, Terminated) else "interrupted"
            logger.error("%s; temporary files were removed. Rerun the workflow to continue "
                         "(training resumes from its last checkpoint)", cause)
            if isinstance(stop, Terminated):
                raise SystemExit(128 + signal.SIGTERM) from None
            raise
        except BaseException:
            logger.exception("failed")
            raise
        finally:
            sys.stderr = original_stderr
            root.removeHandler(handler)


class _Sigterm:
    received = False


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[_Sigterm]:
    """Turn SIGTERM into :class:`Terminated` in this process while the block runs, and record
    that it came (``received``).

    Forked worker processes inherit the handler; there it restores the default action and
    re-sends the signal, so that killing the pool still ends them at once.
    """
    sigterm = _Sigterm()
    if threading.current_thread() is not threading.main_thread():
        yield sigterm  # signal handlers can only be set from the main thread
        return
    owner = os.getpid()

    def on_sigterm(signum, frame):
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        sigterm.received = True
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield sigterm
    finally:
        signal.signal(signal.SIGTERM, previous)
