"""The encoder's process keeps freed memory for reuse: a large block freed and allocated again costs no faults."""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys

import pytest

from fast2dgs_cli.allocator import keep_freed_memory


def _faults_of_a_second_block(size: int) -> int:
    """Minor page faults taken by filling a ``size``-byte ``malloc`` block after one of the same size was filled
    and freed."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    first = libc.malloc(size)
    ctypes.memset(first, 1, size)
    libc.free(first)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    second = libc.malloc(size)
    ctypes.memset(second, 1, size)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    libc.free(second)
    return faults


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
def test_freed_memory_serves_the_next_block_without_page_faults() -> None:
    size = 96 << 20  # above glibc's largest automatic mmap threshold (32 MiB): mapped afresh by default
    if not keep_freed_memory():
        pytest.skip("not glibc")
    assert keep_freed_memory()  # once per process, the same answer
    assert _faults_of_a_second_block(size) < size // 4096 // 100
