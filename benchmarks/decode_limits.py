"""Adversarial `.g2d` files against the decoder's limits (``formats/g2d.md`` §13): each must be decoded within
10 s and 1 GiB, or refused within a second, by a fresh ``f2dgs decode`` process.

The files are small (at most 64 KB) and spec-legal: maximum counts, huge standard deviations, maximum sizes.
``tests/test_limits.py`` checks the outcome and the memory of each; this script also records the times.

    python benchmarks/decode_limits.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from fast2dgs_cli.container import write_g2d
from fast2dgs_cli.representation import QuantizedAttribute, QuantizedGaussians, code_dtype

__all__ = ["CASES", "adversarial_file", "decode_process"]

CASES: dict[str, tuple[int, int, int, float, int, str]] = {
    # name: (Gaussians, height, width, ln std, bits, expected outcome: "decoded" or the refusal's words)
    "empty-16384x16384": (0, 16384, 16384, 0.0, 8, "the limit is 40000000"),
    "1000-huge-16384x16384": (1000, 16384, 16384, 20.0, 8, "the limit is 40000000"),
    "4M-huge-24bit-64x64": (1 << 22, 64, 64, 20.0, 24, "more than one per pixel"),
    "4M-huge-24bit-2048x2048": (1 << 22, 2048, 2048, 20.0, 24, "per byte of the file"),
    "250k-huge-2048x2048": (250_000, 2048, 2048, 20.0, 1, "intersections"),
    "250k-small-2048x2048": (250_000, 2048, 2048, 1.0, 1, "decoded"),
    "empty-6324x6324": (0, 6324, 6324, 0.0, 8, "decoded"),
    "4-huge-6324x6324": (4, 6324, 6324, 20.0, 8, "decoded"),
}
"""Each case: the file's Gaussian count, reference size, every Gaussian's ln std, bit depth, expected outcome."""


def adversarial_file(count: int, height: int, width: int, log_std: float, bits: int) -> bytes:
    """A `.g2d` file of ``count`` round Gaussians of std ``e^log_std`` px, each centre at 1/4 or 3/4 of each axis
    at random up to 2¹⁹ Gaussians (two bits each), all at (1/4, 1/4) beyond (so that 2²² fit in a few KB)."""
    rng = np.random.default_rng(0)

    def attribute(lo: list[float], hi: list[float], random: bool = False) -> QuantizedAttribute:
        shape = (count, len(lo))
        codes = rng.integers(0, 2, shape) * ((1 << bits) - 1) if random else np.zeros(shape)  # lo or hi
        bounds = np.array(lo, np.float32), np.array(hi, np.float32)
        return QuantizedAttribute(bits, *bounds, codes.astype(code_dtype(bits)))

    q = QuantizedGaussians(
        height, width, count,
        xy=attribute([0.25, 0.25], [0.75, 0.75], random=count <= 1 << 19),
        scale=attribute([log_std] * 2, [log_std] * 2),
        rotation=attribute([0.0], [0.0]),
        color=attribute([0.5, 0.0, 0.0], [0.5, 0.0, 0.0]),
    )  # fmt: skip
    return write_g2d(q, {})


_MEASURE = (
    "import os, subprocess, sys, time; start = time.perf_counter(); p = subprocess.Popen(sys.argv[1:]); "
    "_, status, usage = os.wait4(p.pid, 0); "
    "print(os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss / 1024)"
)
"""Runs a command and prints its exit code, seconds and peak MiB. A child's peak resident memory counts the
memory of the process it was forked from, so the measured process is forked from this small one."""


def decode_process(path: Path, out: Path) -> tuple[int, str, float, float]:
    """``f2dgs decode path -o out`` in a fresh process: ``(exit code, stderr, seconds, peak MiB)``."""
    command = [sys.executable, "-m", "fast2dgs_cli", "decode", str(path), "-o", str(out), "--force"]
    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True)
    code, seconds, peak = done.stdout.split()
    return int(code), done.stderr, float(seconds), float(peak)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from common import RESULTS, machine_info, write_json

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS / "decode_limits.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, (count, height, width, log_std, bits, expected) in CASES.items():
            path = Path(scratch) / f"{name}.g2d"
            path.write_bytes(adversarial_file(count, height, width, log_std, bits))
            code, stderr, seconds, peak = decode_process(path, Path(scratch) / "out.png")
            outcome = "decoded" if code == 0 else stderr.strip()
            rows.append({"file": name, "bytes": path.stat().st_size, "expected": expected, "outcome": outcome,
                         "seconds": round(seconds, 3), "peak_mib": round(peak, 1)})  # fmt: skip
            print(f"{name}: {path.stat().st_size} bytes, {outcome[:70]}, {seconds:.2f} s, {peak:.0f} MiB", flush=True)
    write_json(args.out, {"cases": rows, "machine": machine_info()})


if __name__ == "__main__":
    main()
