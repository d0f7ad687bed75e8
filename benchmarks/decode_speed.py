"""Whole-process decode cost: ``f2dgs decode`` of Kodak `.g2d` files against Pillow's AVIF decode.

Each run is a fresh process (start-up, imports, kernel loading from numba's cache, parse, render, PNG write),
as a user meets it. Rounds interleave the two commands and the images, so that host noise hits all alike. For
each file: median wall time and the median peak resident memory (``ru_maxrss`` of the process). The AVIF file
is Pillow's AVIF at the highest quality within the `.g2d` file's bytes; its command opens, decodes and writes
the same PNG.

Run it with the Python of an install made as the README makes it (``pip install .``, no extras): numba imports
SciPy whenever SciPy is installed (the ``bench`` extra brings it), which adds about a tenth of a second.

    python benchmarks/decode_speed.py --images kodim05 kodim19 --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import KODAK, RESULTS, f2dgs_command, machine_info, measure_process, write_json

AVIF_DECODE = "import sys; from PIL import Image; Image.open(sys.argv[1]).convert('RGB').save(sys.argv[2])"


def _prepare(image: Path, folder: Path) -> tuple[Path, Path, int]:
    """Encode ``image`` with the default settings, and as AVIF within its bytes: ``(g2d, avif, g2d bytes)``."""
    import numpy as np
    from PIL import Image

    from fast2dgs_cli.baselines import BASELINES, encode_within

    g2d = folder / f"{image.stem}.g2d"
    subprocess.run([*f2dgs_command(), "encode", str(image), "-o", str(g2d), "--force"], check=True, capture_output=True)
    pixels = np.asarray(Image.open(image).convert("RGB"))
    avif = encode_within(BASELINES["avif"], pixels, g2d.stat().st_size)
    if avif is None:
        raise SystemExit(f"no AVIF file of {image.name} fits in {g2d.stat().st_size} bytes")
    path = folder / f"{image.stem}.avif"
    path.write_bytes(avif.data)
    return g2d, path, g2d.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kodak", type=Path, default=KODAK, help="folder of the Kodak PNG images")
    parser.add_argument("--images", nargs="+", default=["kodim05", "kodim19", "kodim23"], help="Kodak names")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved runs of each command per image")
    parser.add_argument("--out", type=Path, default=RESULTS / "decode_speed.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        subprocess.run([*f2dgs_command(), "decode", "--help"], check=True, capture_output=True)
        commands, sizes = {}, {}
        for name in args.images:
            g2d, avif, size = _prepare(args.kodak / f"{name}.png", folder)
            sizes[name] = {"g2d_bytes": size, "avif_bytes": avif.stat().st_size}
            commands[name] = {
                "f2dgs": [*f2dgs_command(), "decode", str(g2d), "-o", str(folder / "out.png"), "--force"],
                "avif": [sys.executable, "-c", AVIF_DECODE, str(avif), str(folder / "avif.png")],
            }
            measure_process(commands[name]["f2dgs"])  # the first load after an encode may still warm the cache
        runs = {name: {codec: [] for codec in codecs} for name, codecs in commands.items()}
        for _ in range(args.rounds):  # images interleaved too, so that a slow phase of the host hits all alike
            for name, codecs in commands.items():
                for codec, command in codecs.items():
                    runs[name][codec].append(measure_process(command))
        for name, measured_by_codec in runs.items():
            row = {"image": name, **sizes[name]}
            for codec, measured in measured_by_codec.items():
                row[codec] = {
                    "wall_s_median": statistics.median(w for w, _ in measured),
                    "wall_s": [round(w, 4) for w, _ in measured],
                    "peak_mib_median": statistics.median(m for _, m in measured),
                }
            rows.append(row)
            medians = {c: (round(row[c]["wall_s_median"], 3), round(row[c]["peak_mib_median"], 1)) for c in runs[name]}
            print(name, medians)
    write_json(args.out, {"rounds": args.rounds, "images": rows, "machine": machine_info()})


if __name__ == "__main__":
    main()
