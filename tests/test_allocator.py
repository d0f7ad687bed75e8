"""Freed memory is kept for reuse inside ``reusing_freed_memory`` (no page faults) and given back after it."""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys

import pytest

from fast2dgs_cli.allocator import reusing_freed_memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")

SIZE = 96 << 20
"""Above glibc's largest adaptive mmap threshold: mapped afresh by default."""


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _filled_and_freed(libc: ctypes.CDLL) -> int:
    """Fill a fresh ``SIZE``-byte block and free it; return the minor page faults the filling took."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(SIZE)
    ctypes.memset(block, 1, SIZE)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    libc.free(block)
    return faults


def test_freed_memory_serves_the_next_block_inside_and_goes_back_after() -> None:
    libc = _libc()
    pages = SIZE // 4096
    assert _filled_and_freed(libc) > pages // 2  # by default every block is fresh pages
    with reusing_freed_memory() as taken:
        if not taken:
            pytest.skip("not glibc")
        _filled_and_freed(libc)
        assert _filled_and_freed(libc) < pages // 100  # the first block's memory again
        kept = _resident_bytes()
    assert _resident_bytes() < kept - SIZE // 2  # given back on the way out
    assert _filled_and_freed(libc) > pages // 2  # and fresh pages again after
