"""Kodak benchmark: `f2dgs bench` on the 24 Kodak images at several Gaussian budgets.

Runs the real command line (as a user would) once per budget with the default fine-tuning steps and the
JPEG / WebP / AVIF baselines at the same size, writes
``benchmarks/results/kodak-<N>.json`` (CompressAI schema, per-image records, machine info), then
regenerates the tables of README.md and benchmarks/README.md (``readme_tables.py``).

    python benchmarks/kodak.py [--kodak ../shared/data/kodak] [--budgets 2000 5000 20000] [--steps S] [--codecs ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from common import HERE, RESULTS, add_kodak_arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_kodak_arguments(parser)
    parser.add_argument("--budgets", type=int, nargs="+", default=[2000, 5000, 20000])
    parser.add_argument("--steps", type=int, default=None, help="fine-tuning steps (default: the CLI's)")
    parser.add_argument("--codecs", default="f2dgs,jpeg,webp,avif", help="passed to `f2dgs bench --codecs`")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for budget in args.budgets:
        report = RESULTS / f"kodak-{budget}.json"
        command = [sys.executable, "-m", "fast2dgs_cli", "bench", str(args.kodak), "--gaussians", str(budget)]
        command += ["--json", str(report), "--csv", str(report.with_suffix(".csv")), "--force", "--codecs", args.codecs]
        if args.steps is not None:
            command += ["--steps", str(args.steps)]
        print("+", " ".join(command), flush=True)
        subprocess.run(command, check=True)
    subprocess.run([sys.executable, str(HERE / "readme_tables.py")], check=True)


if __name__ == "__main__":
    main()
