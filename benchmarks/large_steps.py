"""What the fine-tuning steps buy on a 12-megapixel photo: ``f2dgs encode`` with fewer steps and at low efforts.

The picture of ``large_images.py`` (its photograph resized with Lanczos) at one size, encoded at the default
quality in fresh processes: effort 5 with ``--steps N`` for each N, then efforts 1 and 2 at their own steps.
For each, the encode's wall seconds and peak memory, the file's bytes and the decoded PSNR: how few steps keep
the picture, and what the encode then costs.

    python benchmarks/large_steps.py                      # 12 MP: --steps 60 85 100 125, efforts 1 and 2

Writes ``benchmarks/results/large_steps.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import RESULTS, machine_info, write_json
from large_images import SOURCE, encode_and_decode, resized_photo, warm_kernels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=SOURCE, help="the photograph to resize")
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--steps", type=int, nargs="+", default=[60, 85, 100, 125], help="effort 5's steps")
    parser.add_argument("--efforts", type=int, nargs="*", default=[1, 2], help="lower efforts, at their steps")
    parser.add_argument("--out", type=Path, default=RESULTS / "large_steps.json")
    args = parser.parse_args()
    settings = [("--steps", str(steps)) for steps in args.steps] + [("-e", str(e)) for e in args.efforts]
    load, runs = os.getloadavg(), []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        warm_kernels(folder)
        image = resized_photo(args.source, args.megapixels, folder)
        for options in settings:
            runs.append({"options": " ".join(options), **encode_and_decode(image, folder, options)})
            print(runs[-1])
            write_json(args.out, {
                "source": args.source.name,
                "settings": "f2dgs encode at quality 60 (the default) with the options; fresh processes",
                "loadavg_start": [round(x, 2) for x in load],
                "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                "runs": runs,
                "machine": machine_info(),
            })  # fmt: skip


if __name__ == "__main__":
    main()
