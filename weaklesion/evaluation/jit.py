"""The one way this package compiles its inner loops (numba).

Compiled code is cached on disk (next to the sources, or in numba's user cache when the
install is read-only), so only the first process after an install pays the compilation (a
few seconds). ``error_model="numpy"`` makes division follow IEEE rules instead of raising,
which lets the compiler vectorise loops. No ``fastmath``: the metrics must equal their
references bit for bit, so floating-point operations are never reordered or fused.
"""

from __future__ import annotations

import logging

import numba

log = logging.getLogger(__name__)

_OPTIONS = {"nogil": True, "error_model": "numpy"}


def kernel(function):
    """Decorator for a compiled function of this package."""
    try:
        return numba.njit(cache=True, **_OPTIONS)(function)
    except RuntimeError as error:
        # numba found no writable place for its cache (read-only install and home folder,
        # as in some containers): compile in every process instead of failing the import.
        log.debug("numba cache unavailable for %s: %s", function.__qualname__, error)
        return numba.njit(**_OPTIONS)(function)
