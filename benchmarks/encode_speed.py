"""Encode speed at the command's defaults, and the PSNR of the fast backend against the torch reference.

For every Kodak image (768×512 or 512×768) it runs ``encode_image`` as ``f2dgs encode`` does by default
(``DEFAULT_QUALITY``'s Gaussian budget, ``DEFAULT_EFFORT``) on the fast CPU backend, after every kernel is
warmed up (compiled or loaded from numba's on-disk cache, by one encode of a small crop; reported as
``warm_up_s``), and records the wall time of each stage and the decoded PSNR. It then measures the **whole
command**, ``f2dgs encode IMAGE -o OUT`` in a fresh process (interpreter start, imports, kernel cache load,
encode, write), on ``--cli-reps`` images spread over the whole run between the in-process encodes (this host's
speed drifts by tens of per cent over minutes: spreading keeps one slow minute from deciding the figure), with
a breakdown of the fixed start-up cost of a fresh process (interpreter, ``import torch``, the rest of the
codec's imports, loading the cached kernels, loading the networks); and re-encodes ``--reference`` images
with the pure-torch reference backend and the same settings, to show the fast kernels cost no quality.

    python benchmarks/encode_speed.py [--kodak DIR] [--limit N] [--reference kodim05]

The command is timed with the interpreter that runs this script, so run it from the environment the README
creates (``pip install .``): the ``bench`` extra pulls in scipy (through bjontegaard), and numba imports scipy
when it loads its first kernel, which adds a fixed ~0.25 s to every command on this machine. Whether scipy was
installed is recorded with the timings.

Writes ``benchmarks/results/encode_speed.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import RESULTS, add_kodak_arguments, kodak_files, load_image, machine_info, write_json


def encode_once(image: torch.Tensor, backend: str) -> dict[str, object]:
    """Encode ``image`` as ``f2dgs encode`` does by default, on ``backend``; return timings and quality."""
    from fast2dgs_cli.choices import RateChoice
    from fast2dgs_cli.codec import EncodeOptions
    from fast2dgs_cli.rate import encode_at_rate

    start = time.perf_counter()
    result = encode_at_rate(image, RateChoice(), EncodeOptions(backend=backend))
    return {
        "encode_s": time.perf_counter() - start,
        "stages_s": result.seconds,
        "psnr": result.psnr,
        "psnr_unquantized": result.psnr_unquantized,
        "bytes": len(result.data),
        "steps": result.steps,
        "gaussians": result.count,
    }


def warm_up_encoder(image: torch.Tensor) -> float:
    """Seconds to compile (or load from numba's cache) every kernel ``encode_image`` uses: the renderer's, then
    the fit's, quantization's and refinement's through one encode of a 64×64 crop of ``image``."""
    from fast2dgs_cli.render.cpu_backend import warm_up

    start = time.perf_counter()
    warm_up()
    encode_once(image[:64, :64].contiguous(), "cpu")
    return time.perf_counter() - start


def cli_wall(image: Path) -> float:
    """Wall seconds of one ``f2dgs encode image -o out`` in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "fast2dgs_cli", "encode", str(image), "-o", f"{tmp}/out.g2d", "--force"]
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - start


_STARTUP_SCRIPT = """
import gc, time
gc.disable()  # as the command's entry point does
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import fast2dgs_cli.codec, fast2dgs_cli.cli
t2 = time.perf_counter()
from fast2dgs_cli.render.cpu_backend import warm_up
warm_up()
t3 = time.perf_counter()
from fast2dgs_cli.networks.predict import default_models
default_models()
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""


def startup_breakdown(reps: int) -> dict[str, float]:
    """Median seconds of each part of a fresh process's fixed start-up cost (kernels already cached)."""
    rows = []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare = time.perf_counter() - start
        done = subprocess.run([sys.executable, "-c", _STARTUP_SCRIPT], check=True, capture_output=True, text=True)
        rows.append([bare, *map(float, done.stdout.split())])
    names = ["interpreter_s", "import_torch_s", "import_f2dgs_s", "load_kernels_s", "load_networks_s"]
    return {name: statistics.median(row[i] for row in rows) for i, name in enumerate(names)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_kodak_arguments(parser, limit=24)
    parser.add_argument("--reference", nargs="*", default=["kodim05"], help="images also encoded on torch")
    parser.add_argument("--cli-reps", type=int, default=6, help="fresh-process runs of the command")
    parser.add_argument("--out", type=Path, default=RESULTS / "encode_speed.json")
    args = parser.parse_args()

    from fast2dgs_cli.choices import DEFAULT_QUALITY
    from fast2dgs_cli.codec import EncodeOptions

    files = kodak_files(args.kodak, args.limit)
    warm_s = warm_up_encoder(load_image(files[0])[0])
    images, cli = [], []
    cli_after = {round((i + 1) * len(files) / args.cli_reps) - 1 for i in range(args.cli_reps)}  # spread out
    for index, file in enumerate(files):
        image, stem = load_image(file)
        row = {"image": stem, **encode_once(image, "cpu")}
        images.append(row)
        print(f"{stem}: {row['encode_s']:.2f} s, {row['psnr']:.2f} dB", flush=True)
        if index in cli_after:
            cli.append((stem, cli_wall(file)))
            print(f"  f2dgs encode {stem}: {cli[-1][1]:.2f} s", flush=True)
    while len(cli) < args.cli_reps:  # fewer images than runs
        cli.append((files[0].stem, cli_wall(files[0])))
    reference = []
    for name in args.reference:
        image, stem = load_image(args.kodak / f"{name}.png")
        fast = next((r for r in images if r["image"] == stem), None) or encode_once(image, "cpu")
        slow = encode_once(image, "torch")
        reference.append({"image": stem, "psnr_cpu": fast["psnr"], "psnr_torch": slow["psnr"],
                          "encode_s_cpu": fast["encode_s"], "encode_s_torch": slow["encode_s"]})  # fmt: skip
        print(f"{stem}: cpu {fast['psnr']:.3f} dB vs torch {slow['psnr']:.3f} dB", flush=True)
    startup = startup_breakdown(args.cli_reps)
    defaults = EncodeOptions()
    summary = {
        "name": "encode_speed",
        "description": "f2dgs encode with default settings on the fast CPU backend (kernels cached)",
        "machine": machine_info(),
        "settings": {"quality": DEFAULT_QUALITY, "effort": defaults.effort, "init": defaults.init.value},
        "warm_up_s": warm_s,
        "median_encode_s": statistics.median(r["encode_s"] for r in images),
        "max_encode_s": max(r["encode_s"] for r in images),
        "mean_psnr": statistics.fmean(r["psnr"] for r in images),
        "cli": {
            "images": [name for name, _ in cli],
            "wall_s": [seconds for _, seconds in cli],
            "median_wall_s": statistics.median(seconds for _, seconds in cli),
            "startup": startup,
            "scipy_installed": importlib.util.find_spec("scipy") is not None,
        },
        "reference_backend": reference,
        "images": images,
    }
    write_json(args.out, summary)
    print(f"median encode {summary['median_encode_s']:.2f} s, CLI wall {summary['cli']['median_wall_s']:.2f} s")


if __name__ == "__main__":
    main()
