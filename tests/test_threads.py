"""The same input, options and seed give the same bytes whatever the numba and torch thread counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fast2dgs_cli

_ENCODE = """
import hashlib, sys
import torch
from fast2dgs_cli.codec import EncodeOptions, encode_image
from fast2dgs_cli.encoder.fit import FitConfig
from fast2dgs_cli.imageio import load_image
pixels = torch.from_numpy(load_image(sys.argv[1]).pixels)[100:148, 150:214].contiguous()
for threads in sys.argv[2:]:
    torch.set_num_threads(int(threads))
    result = encode_image(pixels, EncodeOptions(gaussians=150, fit=FitConfig(steps=10)))
    print(threads, hashlib.sha256(result.data).hexdigest())
"""

NUMBA_THREADS = (1, 2, 4)
"""``NUMBA_NUM_THREADS`` of the encoding processes (more than the machine's cores works too)."""
TORCH_THREADS = ("1", "3")
"""``torch.set_num_threads`` values each process encodes with in turn. The crop is small but enough: while the
networks ran on torch's threads, one torch thread gave other bytes than several."""


def test_bytes_do_not_depend_on_the_thread_counts(sample_path: Path) -> None:
    root = str(Path(fast2dgs_cli.__file__).parents[1])  # this checkout, not an installed copy
    runs = {}
    for threads in NUMBA_THREADS:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
            "NUMBA_NUM_THREADS": str(threads),
        }
        command = [sys.executable, "-c", _ENCODE, str(sample_path), *TORCH_THREADS]
        runs[threads] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    digests = {}
    for threads, run in runs.items():
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]
        for line in out.splitlines():
            torch_threads, digest = line.split()
            digests[threads, int(torch_threads)] = digest
    assert len(digests) == len(NUMBA_THREADS) * len(TORCH_THREADS)
    assert len(set(digests.values())) == 1, digests
