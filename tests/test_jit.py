"""numba's runtime started from machine code cached beside the kernels (fast2dgs_cli/jit.py)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from fast2dgs_cli.jit import _RUNTIME_MAGIC, _pack, _unpack

# starts numba's runtime as a kernel load does, in a fresh process, with the runtime's compile available or not
_START = """
import sys
from numba.core.registry import cpu_target
from numba.core.runtime import nrtdynmod, rtsys
from fast2dgs_cli.jit import _start_runtime
if sys.argv[2] == "no-compile":
    def refuse(*args):
        raise AssertionError("compiled the runtime")
    nrtdynmod.create_nrt_module = refuse
_start_runtime(cpu_target.target_context, sys.argv[1])
assert rtsys.library.get_pointer_to_function("NRT_decref")
"""


def _start(folder: Path, compile_allowed: bool) -> subprocess.CompletedProcess[str]:
    mode = "compile" if compile_allowed else "no-compile"
    return subprocess.run([sys.executable, "-c", _START, str(folder), mode], capture_output=True, text=True)


def test_runtime_is_compiled_once_then_loaded_from_its_file(tmp_path: Path) -> None:
    assert _start(tmp_path, compile_allowed=False).returncode != 0  # nothing cached yet: it must compile
    first = _start(tmp_path, compile_allowed=True)
    assert first.returncode == 0, first.stderr
    (stored,) = tmp_path.glob("numba-runtime-*.nbr")
    again = _start(tmp_path, compile_allowed=False)
    assert again.returncode == 0, again.stderr
    assert _unpack(stored.read_bytes()) is not None


def test_a_damaged_runtime_file_is_compiled_anew(tmp_path: Path) -> None:
    assert _start(tmp_path, compile_allowed=True).returncode == 0
    (stored,) = tmp_path.glob("numba-runtime-*.nbr")
    whole = stored.read_bytes()
    stored.write_bytes(whole[:-1] + bytes([whole[-1] ^ 1]))
    assert _start(tmp_path, compile_allowed=False).returncode != 0
    assert _start(tmp_path, compile_allowed=True).returncode == 0
    assert stored.read_bytes() == whole


def test_runtime_file_round_trips_and_refuses_what_it_did_not_write() -> None:
    packed = _pack(b"object code", b"bitcode")
    assert _unpack(packed) == (b"object code", b"bitcode")
    assert _unpack(packed[:-1]) is None
    assert _unpack(b"x" + packed[1:]) is None
    assert _unpack(b"") is None


@pytest.mark.parametrize("length", [12, 2**40])
def test_runtime_file_whose_length_overruns_it_is_refused(length: int) -> None:
    payload = length.to_bytes(8, "little") + b"object code"  # 11 bytes follow the length
    assert _unpack(_RUNTIME_MAGIC + hashlib.sha256(payload).digest() + payload) is None
