"""The one way this package compiles its inner loops (numba).

``cache=True`` keeps the machine code next to the sources, so only the first process after an
install pays the compilation (a few seconds). ``error_model="numpy"`` makes division follow
IEEE rules instead of raising, which lets the compiler vectorise loops. No ``fastmath``: the
metrics must equal their references bit for bit, so floating-point operations are never
reordered or fused.
"""

from __future__ import annotations

import numba

kernel = numba.njit(cache=True, nogil=True, error_model="numpy")
"""Decorator for a compiled function of this package."""
