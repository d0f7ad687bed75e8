"""``kernel``: numba's ``njit`` for this project's kernels, cached on disk and loaded without the compiler.

Before numba loads a kernel from its disk cache it refreshes the whole cpu target context, which imports every
lowering module numba has (a few hundred), although a compiled kernel needs only numba's runtime (NRT): time
and memory that a process running only cached kernels, such as ``f2dgs decode``, does not need (docs/cli.md,
"Loading the kernels without numba's compiler"). ``kernel`` loads with the runtime alone; compiling a kernel
still refreshes the context first, inside numba's compiler, so a cache miss behaves as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numba import njit
from numba.core.caching import FunctionCache
from numba.core.runtime import rtsys

__all__ = ["kernel"]


class _RuntimeOnlyCache(FunctionCache):
    """numba's on-disk cache of compiled functions, loading with only the runtime initialized."""

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)


_RUNTIME_ONLY = all(hasattr(FunctionCache, name) for name in ("_guard_against_spurious_io_errors", "_load_overload"))
"""Whether this numba has the cache internals ``_RuntimeOnlyCache`` builds on (else its own cache is used)."""


def kernel(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, **options)``, loading cached code with ``_RuntimeOnlyCache``."""

    def compile_lazily(function: Callable[..., Any]) -> Any:
        dispatcher = njit(cache=True, **options)(function)
        if _RUNTIME_ONLY:
            dispatcher._cache = _RuntimeOnlyCache(function)
        return dispatcher

    return compile_lazily
