"""Logging for rule scripts: everything a step prints goes to its Snakemake log file."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from weaklesion.errors import WeaklesionError


@contextlib.contextmanager
def rule_logging(log_path: str | Path) -> Iterator[logging.Logger]:
    """Send logging, warnings and stderr (tqdm's progress bars) to ``log_path``.

    A WeaklesionError — bad input, not a bug — is logged as one clear line; anything else
    keeps its traceback. Either way the error is re-raised so the job fails.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", buffering=1) as stream:
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
        except WeaklesionError as error:
            logger.error("%s", error)
            print(f"weaklesion error: {error}", file=original_stderr)
            raise
        except BaseException:
            logger.exception("failed")
            raise
        finally:
            sys.stderr = original_stderr
            root.removeHandler(handler)
