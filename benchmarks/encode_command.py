"""The whole ``f2dgs encode`` command at its defaults on every Kodak image, each in a fresh process.

What a user waits for: interpreter start, imports, loading the cached kernels and the networks, the encode
and the file write. Every image runs ``--rounds`` times, the rounds one after another over all the images, so a
slow minute of a shared host spreads over the images instead of landing on one. Before and after the runs, and
between rounds, a fresh ``python -c "import torch"`` is timed: a fixed piece of work whose time says how fast
the host was while the figures were taken.

    python benchmarks/encode_command.py [--kodak DIR] [--limit 24] [--rounds 1]

Run it with the interpreter of the environment the README creates (``pip install .``): the command is that
environment's ``f2dgs``. The kernels must be cached already (run one encode first). Writes
``benchmarks/results/encode_command.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, add_kodak_arguments, f2dgs_command, kodak_files, machine_info, measure_process, write_json


def probe_seconds(reps: int = 3) -> float:
    """Median wall seconds of ``python -c "import torch"`` in a fresh process (``reps`` runs)."""
    return statistics.median(measure_process([sys.executable, "-c", "import torch"])[0] for _ in range(reps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_kodak_arguments(parser, limit=24)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each image, in rounds over all images")
    parser.add_argument("--out", type=Path, default=RESULTS / "encode_command.json")
    args = parser.parse_args()

    from fast2dgs_cli.choices import DEFAULT_QUALITY
    from fast2dgs_cli.effort import DEFAULT_EFFORT

    files = kodak_files(args.kodak, args.limit)
    runs: dict[str, list[tuple[float, float]]] = {file.stem: [] for file in files}  # (wall s, peak MiB)
    probes = [probe_seconds()]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            for file in files:
                wall, peak = measure_process([*f2dgs_command(), "encode", str(file), "-o", f"{tmp}/out.g2d", "--force"])
                runs[file.stem].append((wall, peak))
                print(f"round {round_index + 1} {file.stem}: {wall:.2f} s, {peak:.0f} MiB", flush=True)
            probes.append(probe_seconds())
            print(f"  import torch: {probes[-1]:.2f} s", flush=True)
    per_image = {stem: statistics.median(wall for wall, _ in measured) for stem, measured in runs.items()}
    summary = {
        "name": "encode_command",
        "description": "f2dgs encode IMAGE -o OUT at the defaults, fresh processes, kernels cached",
        "machine": machine_info(),
        "settings": {"quality": DEFAULT_QUALITY, "effort": DEFAULT_EFFORT, "rounds": args.rounds},
        "wall_s": time.perf_counter() - started,
        "median_wall_s": statistics.median(per_image.values()),
        "min_wall_s": min(per_image.values()),
        "max_wall_s": max(per_image.values()),
        "images_at_most_5_s": sum(value <= 5.0 for value in per_image.values()),
        "max_peak_mib": max(peak for measured in runs.values() for _, peak in measured),
        "import_torch_s": probes,
        "images": [
            {
                "image": stem,
                "wall_s": [wall for wall, _ in measured],
                "peak_mib": [peak for _, peak in measured],
                "median_wall_s": per_image[stem],
            }
            for stem, measured in runs.items()
        ],
    }
    write_json(args.out, summary)
    print(
        f"median over {len(files)} images {summary['median_wall_s']:.2f} s "
        f"({summary['min_wall_s']:.2f}–{summary['max_wall_s']:.2f}); import torch {min(probes):.2f}–{max(probes):.2f} s"
    )


if __name__ == "__main__":
    main()
