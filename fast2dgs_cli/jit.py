"""``kernel``: numba's ``njit`` for this project's kernels, cached on disk and loaded without the compiler.

Before numba loads a kernel from its disk cache it refreshes the whole cpu target context, which imports every
lowering module numba has (a few hundred), although a compiled kernel needs only numba's runtime (NRT), and it
compiles the runtime's own functions with LLVM in every process: time and memory that a process running only
cached kernels, such as ``f2dgs decode``, does not need (docs/cli.md, "Loading the kernels without numba's
compiler"). ``kernel`` starts the runtime from machine code cached beside the kernels and loads with it alone;
compiling a kernel still refreshes the context first, inside numba's compiler, so a cache miss behaves as before.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llvmlite
import numba
from llvmlite import binding
from numba import njit
from numba.core.caching import FunctionCache
from numba.core.compiler_lock import global_compiler_lock
from numba.core.runtime import _nrt_python, nrtdynmod, rtsys

__all__ = ["kernel"]

_RUNTIME_MAGIC = b"f2dgs numba runtime 1\n"
_DIGEST_BYTES = 32
_LENGTH_BYTES = 8


def _runtime_file(folder: str, codegen: Any) -> Path:
    """Where the runtime's machine code for this numba, llvmlite and CPU (``codegen.magic_tuple()``) is kept."""
    key = repr((numba.__version__, llvmlite.__version__, codegen.magic_tuple())).encode()
    return Path(folder) / f"numba-runtime-{hashlib.sha256(key).hexdigest()[:16]}.nbr"


def _pack(object_code: bytes, bitcode: bytes) -> bytes:
    payload = len(object_code).to_bytes(_LENGTH_BYTES, "little") + object_code + bitcode
    return _RUNTIME_MAGIC + hashlib.sha256(payload).digest() + payload


def _unpack(data: bytes) -> tuple[bytes, bytes] | None:
    """The object code and bitcode that ``_pack`` stored, or None for a file that is not one, whole."""
    head = len(_RUNTIME_MAGIC)
    payload = data[head + _DIGEST_BYTES :]
    if not data.startswith(_RUNTIME_MAGIC) or hashlib.sha256(payload).digest() != data[head : head + _DIGEST_BYTES]:
        return None
    length = int.from_bytes(payload[:_LENGTH_BYTES], "little")
    if length > len(payload) - _LENGTH_BYTES:
        return None
    return payload[_LENGTH_BYTES : _LENGTH_BYTES + length], payload[_LENGTH_BYTES + length :]


def _write_quietly(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically; a cache that cannot be written (a read-only install) is skipped, as numba does."""
    temporary = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, delete=False) as temporary:
            temporary.write(data)
        os.replace(temporary.name, path)
    except OSError:
        if temporary is not None:
            Path(temporary.name).unlink(missing_ok=True)  # a full disk: no half-written file left behind


@global_compiler_lock
def _start_runtime(target_context: Any, folder: str) -> None:
    """Start numba's runtime as ``rtsys.initialize`` does, with its LLVM functions from ``folder`` when cached.

    ``rtsys.initialize`` compiles those few functions at numba's optimization level in every process, which sets
    up LLVM's optimization passes and code generator; loading their object code costs what a cached kernel does
    (docs/cli.md, "The runtime's own functions from the cache too").
    """
    if rtsys._init:
        return
    for name, address in _nrt_python.c_helpers.items():
        binding.add_symbol(name if name.startswith("_") else f"NRT_{name}", address)
    codegen = target_context.codegen()
    path = _runtime_file(folder, codegen)
    try:
        stored = _unpack(path.read_bytes())
    except OSError:
        stored = None
    if stored is not None:
        library = codegen.unserialize_library(("nrt", "object", stored))
    else:
        module, library = nrtdynmod.create_nrt_module(target_context)
        library.enable_object_caching()
        library.add_ir_module(module)
        library.finalize()
        _name, _kind, (object_code, bitcode) = library.serialize_using_object_code()
        _write_quietly(path, _pack(object_code, bitcode))
    rtsys._library = library
    rtsys._init = True


class _RuntimeOnlyCache(FunctionCache):
    """numba's on-disk cache of compiled functions, loading with only the runtime started."""

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        _start_runtime(target_context, self._cache_path)
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
