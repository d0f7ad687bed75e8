"""Keep freed memory in the process for reuse, so that the encoder's large arrays are not faulted in anew.

Every fitting step allocates pictures, gradients and tile lists the size of the image and frees them again.
glibc's ``malloc`` serves blocks above its mmap threshold (which adapts only up to a fixed ceiling, below the
picture-sized blocks of a photo) with fresh pages from the kernel and returns them on ``free``, and it trims
freed memory at the top of its heap, so the next step pays a page fault for every page of them.
``keep_freed_memory`` raises both thresholds, so that the same memory serves the next step. The peak stays
what the encoder holds at once (plus the heap's fragmentation); the memory goes back to the system when the
process ends. What it gains: docs/encoder.md, "Large pictures".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["KEEP_BELOW", "keep_freed_memory"]

KEEP_BELOW = 1 << 30
"""Blocks up to this size come from (and go back to) the heap; larger ones are still mapped and unmapped."""
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` (``mallopt``) to keep freed memory up to ``KEEP_BELOW`` a block for reuse.

    Once per process; True if the C library took both settings, False where it is not glibc (musl, macOS,
    Windows), which keep their own policies.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, KEEP_BELOW)) and bool(mallopt(_M_TRIM_THRESHOLD, KEEP_BELOW))
