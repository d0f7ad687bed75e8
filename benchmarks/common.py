"""Helpers shared by the benchmark scripts: paths, the Kodak images, machine info, JSON results.

The scripts run as ``python benchmarks/<script>.py``, which puts this folder on ``sys.path``, so they import
it as ``from common import ...``. Heavy modules (torch, the codec) are imported inside the functions that need
them: ``readme_tables.py`` uses this module without torch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
KODAK = ROOT.parent / "shared" / "data" / "kodak"
"""Default Kodak folder: ``shared/data/kodak`` next to the repository."""

__all__ = [
    "HERE",
    "KODAK",
    "RESULTS",
    "ROOT",
    "add_kodak_arguments",
    "f2dgs_command",
    "kodak_files",
    "load_image",
    "machine_info",
    "measure_process",
    "shipped_card",
    "write_json",
]


def add_kodak_arguments(parser: argparse.ArgumentParser, limit: int | None = None) -> None:
    """Add ``--kodak DIR`` and, when ``limit`` is given, ``--limit N`` (images in name order) to ``parser``."""
    parser.add_argument("--kodak", type=Path, default=KODAK, help="folder of the Kodak PNG images")
    if limit is not None:
        parser.add_argument("--limit", type=int, default=limit, help="number of Kodak images (in name order)")


def f2dgs_command() -> list[str]:
    """The ``f2dgs`` command of the environment running this script, as a user runs it: its console script,
    or ``python -m fast2dgs_cli`` (the same entry point) where the script is not installed."""
    script = Path(sys.executable).with_name("f2dgs")
    return [str(script)] if script.exists() else [sys.executable, "-m", "fast2dgs_cli"]


def kodak_files(folder: Path, limit: int | None = None) -> list[Path]:
    """The PNG files of ``folder`` in name order, the first ``limit`` of them if given."""
    return sorted(folder.glob("*.png"))[:limit]


def load_image(path: Path):
    """``([H, W, 3] float32 tensor in [0, 1], file stem)`` of an image file."""
    import numpy as np
    import torch
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(pixels.copy()), path.stem


def machine_info() -> dict[str, object]:
    """The hardware and software a figure is measured on (``fast2dgs_cli.bench.machine_info``)."""
    from fast2dgs_cli.bench import machine_info as library_machine_info

    return library_machine_info()


_MEASURE = """
import json, os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(process.pid, 0)
wall = time.perf_counter() - start
print(json.dumps([wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), process.stderr.read().decode()]))
"""


def measure_process(command: list[str]) -> tuple[float, float]:
    """Run ``command`` (``SystemExit`` if it fails); return its wall seconds and peak resident memory in MiB.

    A small Python process starts it and reads its ``ru_maxrss``: a process's peak counts the memory it had
    before ``exec``, which a child forked straight from a large benchmark process would inherit.
    """
    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True)
    wall, peak, code, errors = json.loads(done.stdout)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed: {errors}")
    return wall, peak


def shipped_card() -> tuple[dict, Path]:
    """The model card next to the shipped prior weights, and the weights' path."""
    from fast2dgs_cli.networks.registry import DATA_DIR, DEFAULT_MODEL

    cards = sorted(DATA_DIR.glob(f"{DEFAULT_MODEL}-*.json"))
    if len(cards) != 1:
        raise SystemExit(f"expected one shipped model card for {DEFAULT_MODEL}, found {len(cards)}")
    return json.loads(cards[0].read_text()), cards[0].with_suffix(".pt")


def write_json(path: Path, data: dict, indent: int = 2) -> None:
    """Write ``data`` to ``path`` as indented JSON with a final newline, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=indent) + "\n")
