"""The compiled-kernel decorator, with and without a place for numba's cache."""

from __future__ import annotations

import numpy as np
from numba.core.caching import CacheImpl

from weaklesion.evaluation.jit import kernel


def halves(values):
    out = np.empty_like(values)
    for i in range(len(values)):
        out[i] = values[i] / 2.0
    return out


def test_kernel_compiles_with_ieee_division():
    compiled = kernel(halves)
    assert compiled.py_func is halves
    assert compiled._cache.__class__.__name__ == "FunctionCache"  # compiled once per install
    np.testing.assert_array_equal(compiled(np.array([1.0, -3.0, np.inf])), [0.5, -1.5, np.inf])

    @kernel
    def divide(a, b):
        return a / b

    # error_model="numpy": division by zero gives inf/nan instead of raising
    assert divide(1.0, 0.0) == np.inf
    assert np.isnan(divide(0.0, 0.0))


def test_kernel_compiles_without_a_writable_cache(monkeypatch):
    # No locator: numba itself refuses cache=True, as on a read-only install and home folder.
    monkeypatch.setattr(CacheImpl, "_locator_classes", [])
    compiled = kernel(halves)
    assert compiled._cache.__class__.__name__ == "NullCache"
    np.testing.assert_array_equal(compiled(np.array([4.0, 6.0])), [2.0, 3.0])
