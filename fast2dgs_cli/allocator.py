"""Keep freed memory in the process for reuse while a stage allocates the same large arrays again and again.

Every fitting step allocates pictures, gradients and tile lists the size of the image and frees them again.
glibc's ``malloc`` serves blocks above its mmap threshold (which adapts only up to ``ADAPTIVE_MMAP_MOST``, below
the picture-sized blocks of a photo) with fresh pages from the kernel and returns them on ``free``, and it trims
freed memory at the top of its heap, so the next step pays a page fault for every page of them. Inside
``reusing_freed_memory`` both thresholds are raised, so that the same memory serves the next step; on the way
out they are set where glibc's adaptive ones end up and the kept memory goes back to the system. The prior's
stage uses it around its network calls only: the sampling after them allocates other sizes, which kept memory
would only add to. The setting is the process's, so other threads share it meanwhile.
What it gains: docs/encoder.md, "Large pictures".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ADAPTIVE_MMAP_MOST", "KEEP_BELOW", "reusing_freed_memory"]

KEEP_BELOW = 1 << 30
"""Inside ``reusing_freed_memory``, blocks up to this size come from (and go back to) the heap."""
ADAPTIVE_MMAP_MOST = 32 << 20
"""The highest mmap threshold glibc's adaptive rule reaches on 64-bit systems (its trim threshold is twice
that), where ``reusing_freed_memory`` leaves the two thresholds."""
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, where it has glibc's ``mallopt`` and ``malloc_trim``; else ``None`` (musl, macOS, Windows,
    which keep their own policies)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def _thresholds(libc: ctypes.CDLL, mmap: int, trim: int) -> bool:
    """Set glibc's mmap and trim thresholds; True if it took both."""
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, trim))


@contextmanager
def reusing_freed_memory() -> Iterator[bool]:
    """Inside the block, freed blocks of up to ``KEEP_BELOW`` stay in the process for the next allocations.

    Yields whether the C library took the setting (False where it is not glibc). On the way out the thresholds
    go to ``ADAPTIVE_MMAP_MOST`` and twice that, and the memory kept is given back (``malloc_trim``).
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
    taken = libc is not None and _thresholds(libc, KEEP_BELOW, KEEP_BELOW)
    try:
        yield taken
    finally:
        if libc is not None and taken:
            _thresholds(libc, ADAPTIVE_MMAP_MOST, 2 * ADAPTIVE_MMAP_MOST)
            libc.malloc_trim(0)
