"""Adversarial `.g2d` files (benchmarks/decode_limits.py): each is refused with its one-line reason, or decoded
within 1 GiB of memory, by a fresh ``f2dgs decode`` process."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def limits() -> ModuleType:
    spec = importlib.util.spec_from_file_location("decode_limits", BENCHMARKS / "decode_limits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["empty-16384x16384", "1000-huge-16384x16384", "4M-huge-24bit-64x64",
                                  "4M-huge-24bit-2048x2048", "250k-huge-2048x2048", "250k-small-2048x2048",
                                  "empty-6324x6324", "4-huge-6324x6324"])  # fmt: skip
def test_small_adversarial_files_are_decoded_within_1_gib_or_refused(
    tmp_path: Path, limits: ModuleType, name: str
) -> None:
    count, height, width, log_std, bits, expected = limits.CASES[name]
    path = tmp_path / "bomb.g2d"
    path.write_bytes(limits.adversarial_file(count, height, width, log_std, bits))
    assert path.stat().st_size <= 64 * 1024
    code, stderr, _, peak_mib = limits.decode_process(path, tmp_path / "out.png")
    if expected == "decoded":
        assert code == 0, stderr
        assert (tmp_path / "out.png").is_file()
    else:
        assert code == 1 and expected in stderr and stderr.count("\n") == 1, stderr
        assert "Traceback" not in stderr and not (tmp_path / "out.png").exists()
    assert peak_mib <= 1024, f"{name}: peak {peak_mib:.0f} MiB"
