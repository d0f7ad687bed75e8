"""Does the README's training command reproduce the shipped prior? Run it from scratch and compare.

It reads the ``f2dgs train`` command of the README's "Training the prior" section, runs it in a fresh process
from the repository root with ``--out`` and ``--teacher-cache`` pointed at a new temporary folder (so every
teacher fit is redone, nothing is resumed and nothing in the repository or the user's cache is touched), and
compares the new model card with the shipped one (``fast2dgs_cli/data/<model>-*.json``): validation PSNR at
0 steps, overall and per density, and the final training losses.
The acceptance tolerance on the validation PSNR is ``TOLERANCE_DB``.

    python benchmarks/train_reproduction.py [--keep DIR]

Takes as long as the training it reruns, teacher fits included (the result records the wall time). Writes
``benchmarks/results/train_reproduction.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, machine_info, shipped_card, write_json

TOLERANCE_DB = 0.3
"""Largest accepted difference of validation PSNR between the shipped and the reproduced weights."""


def readme_command(readme: Path) -> list[str]:
    """The arguments of the ``f2dgs train`` command in the README's "Training the prior" section."""
    section = readme.read_text(encoding="utf-8").split("### Training the prior", 1)[1]
    lines = [line.strip() for line in section.split("```", 2)[1].splitlines()]
    commands = [line for line in lines if line.startswith("f2dgs train ")]
    if len(commands) != 1:
        raise SystemExit(f"expected one `f2dgs train` command in the README's training section, found {len(commands)}")
    return shlex.split(commands[0])[2:]


def with_option(arguments: list[str], name: str, value: str) -> list[str]:
    """``arguments`` with option ``name`` set to ``value`` (replaced where present, appended otherwise)."""
    if name in arguments:
        index = arguments.index(name)
        return [*arguments[: index + 1], value, *arguments[index + 2 :]]
    return [*arguments, name, value]


def compare(shipped: dict, reproduced: dict) -> dict[str, object]:
    """Validation PSNR and final losses of both cards, and their differences (reproduced − shipped)."""
    densities = shipped["validation"]["per_density"]
    return {
        "validation_psnr_db": {
            "shipped": shipped["validation"]["prior_psnr"],
            "reproduced": reproduced["validation"]["prior_psnr"],
            "difference": round(reproduced["validation"]["prior_psnr"] - shipped["validation"]["prior_psnr"], 3),
        },
        "per_density_difference_db": {
            density: round(reproduced["validation"]["per_density"][density]["prior"] - values["prior"], 3)
            for density, values in densities.items()
        },
        "final_losses": {"shipped": shipped["training"]["final"], "reproduced": reproduced["training"]["final"]},
        "teacher_psnr": {"shipped": shipped["data"]["teacher_psnr"], "reproduced": reproduced["data"]["teacher_psnr"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="write the run here instead of a deleted temporary folder")
    parser.add_argument("--out", type=Path, default=RESULTS / "train_reproduction.json")
    args = parser.parse_args()

    documented = readme_command(ROOT / "README.md")
    shipped, weights = shipped_card()
    with tempfile.TemporaryDirectory(prefix="f2dgs-train-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        run = with_option(documented, "--out", str(folder / "weights.pt"))
        run = with_option(run, "--teacher-cache", str(folder / "teacher"))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fast2dgs_cli", "train", *run], cwd=ROOT, check=True)
        wall = time.perf_counter() - start
        reproduced = json.loads((folder / "weights.json").read_text())
    comparison = compare(shipped, reproduced)
    difference = comparison["validation_psnr_db"]["difference"]
    summary = {
        "name": "train_reproduction",
        "description": "the README's training command run from scratch, compared with the shipped model card",
        "machine": machine_info(),
        "readme_command": "f2dgs " + shlex.join(["train", *documented]),
        "run_arguments": shlex.join(["train", *run]),
        "shipped_weights": weights.name,
        "reproduced_sha256": reproduced["sha256"],
        "wall_s": round(wall, 1),
        **comparison,
        "tolerance_db": TOLERANCE_DB,
        "within_tolerance": abs(difference) <= TOLERANCE_DB,
    }
    write_json(args.out, summary)
    verdict = "within" if summary["within_tolerance"] else "OUTSIDE"
    print(f"validation PSNR: shipped {shipped['validation']['prior_psnr']:.3f} dB, reproduced "
          f"{reproduced['validation']['prior_psnr']:.3f} dB ({difference:+.3f}, {verdict} ±{TOLERANCE_DB}); "
          f"wall {wall / 60:.1f} min; wrote {args.out}")  # fmt: skip


if __name__ == "__main__":
    main()
