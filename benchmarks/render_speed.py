"""Renderer speed: forward FPS, forward+backward ms/step and peak memory of each backend.

Scenes are Gaussians **fitted to a Kodak photo** (``init_gaussians`` + ``finetune`` through the cpu backend,
cached under ``--cache``): 768×512 with each ``--budgets`` count, and the largest budget re-rendered at
1920×1080 through ``Gaussians.resized``. For each backend (``torch`` reference, ``cpu``, and ``gmod`` when
CUDA and gmod are available) and scene it measures, after warm-up, the median over repetitions of

* ``forward``: ``render()`` under ``torch.no_grad()`` (projection + rasterization), and the rasterizer alone;
* ``forward_backward``: one fine-tuning step without the optimizer (render, MSE loss, ``backward()``);
* ``peak_rss_mb``: peak resident memory above the pre-call baseline, measured in a fresh subprocess that
  first warms the same call up, then resets the kernel's high-water mark (``/proc/self/clear_refs``) and
  reads ``VmHWM`` after the call (Linux; elsewhere ``ru_maxrss`` growth, a lower bound);

plus the first-call cost of the cpu kernels in fresh processes: compiling into an empty numba cache, and
loading them from the on-disk cache. The torch reference gets fewer repetitions on big scenes and is
recorded as ``null`` (with the reason) where one call would take over 60 s.

The fast backends are timed in ``--rounds`` interleaved rounds (every scene and operation in each round, a
warm-up call before each batch): this host's speed drifts by tens of per cent over minutes, and rounds
spread that drift over all scenes instead of letting a slow minute land on one. The figure is the median
of all repetitions; ``*_rounds_ms`` keeps each round's median, to show the drift.

    python benchmarks/render_speed.py [--kodak DIR] [--image kodim05] [--budgets 2000 10000 50000] [--rounds 5]

Writes ``benchmarks/results/render_speed.json`` (with the machine's CPU, cores and library versions).

To time the kernels as CPUs without AVX-512 run them, on a CPU with it: see ``avx2_features.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from common import RESULTS, add_kodak_arguments, load_image, machine_info, write_json

REFERENCE_LIMIT_S = 60.0
HD = (1080, 1920)


# ------------------------------------------------------------------------------------------ scenes
def fitted_scene(image: torch.Tensor, stem: str, n: int, steps: int, cache: Path):
    """Gaussians fitted to ``image`` (cached): heuristic init, then ``steps`` Adam steps on the cpu backend."""
    from fast2dgs_cli.encoder.fit import FitConfig, finetune
    from fast2dgs_cli.encoder.init import init_gaussians

    height, width = image.shape[:2]
    file = cache / f"{stem}-{width}x{height}-{n}-{steps}steps.pt"
    if file.exists():
        return torch.load(file, weights_only=False)
    start = time.perf_counter()
    result = finetune(init_gaussians(image, n, seed=0), image, FitConfig(steps=steps), backend="cpu")
    print(f"  fitted {n} Gaussians in {time.perf_counter() - start:.1f}s, final MSE {result.losses[-1]:.5f}")
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(result.gaussians, file)
    return result.gaussians


# ------------------------------------------------------------------------------------------ timing
def _sync(backend: str) -> None:
    if backend == "gmod":
        torch.cuda.synchronize()


def timed_ms(call: Callable[[], object], backend: str, warmup: int, reps: int) -> list[float]:
    """Wall times of ``reps`` calls of ``call`` in ms, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
        _sync(backend)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        _sync(backend)
        times.append(1e3 * (time.perf_counter() - start))
    return times


def median_ms(call: Callable[[], object], backend: str, warmup: int, reps: int) -> float:
    """Median wall time of ``call`` in ms after ``warmup`` untimed calls."""
    return statistics.median(timed_ms(call, backend, warmup, reps))


def _calls(gaussians, target: torch.Tensor, backend: str):
    """The three timed operations: render (no grad), rasterizer only (no grad), one training step."""
    from fast2dgs_cli.gaussians import Gaussians
    from fast2dgs_cli.render import project, render
    from fast2dgs_cli.render.backends import _rasterizer, resolve_backend

    height, width = target.shape[:2]
    device = "cuda" if backend == "gmod" else "cpu"
    gaussians, target = gaussians.to(device=device), target.to(device)
    rasterize = _rasterizer(resolve_backend(backend))
    with torch.no_grad():
        projected = project(gaussians, height, width)
    attributes = (gaussians.xy, gaussians.scale, gaussians.rotation, gaussians.color)
    params = [t.detach().clone().requires_grad_(True) for t in attributes]

    def forward() -> None:
        with torch.no_grad():
            render(gaussians, height, width, backend)

    def raster() -> None:
        with torch.no_grad():
            rasterize(projected)

    def step() -> None:
        for p in params:
            p.grad = None
        loss = F.mse_loss(render(Gaussians(*params), height, width, backend), target)  # as finetune's
        loss.backward()

    return forward, raster, step


def measure_reference(gaussians, target: torch.Tensor, reps: int) -> dict[str, object]:
    """Forward / rasterizer / step timings of the torch reference on one scene: one call first, then as many
    repetitions as fit in about 20 s (at most ``reps``)."""
    forward, raster, step = _calls(gaussians, target, "torch")
    record: dict[str, object] = {}
    start = time.perf_counter()
    forward()
    first = time.perf_counter() - start
    if first > REFERENCE_LIMIT_S:
        reason = f"one forward call took {first:.0f}s (> {REFERENCE_LIMIT_S:.0f}s)"
        empty = dict.fromkeys(("forward_ms", "forward_fps", "raster_forward_ms", "forward_backward_ms"))
        return {**empty, "note": reason}
    n = max(1, min(reps, int(20.0 / max(first, 1e-3))))
    record["forward_ms"] = median_ms(forward, "torch", 0, n)
    record["raster_forward_ms"] = median_ms(raster, "torch", 0, n)
    if 3 * first > REFERENCE_LIMIT_S:
        record["forward_backward_ms"] = None
        record["note"] = f"forward took {first:.0f}s; forward+backward would exceed {REFERENCE_LIMIT_S:.0f}s"
    else:
        record["forward_backward_ms"] = median_ms(step, "torch", 1 if first < 5 else 0, max(1, n // 2))
    record["reps"] = n
    record["forward_fps"] = 1e3 / record["forward_ms"]
    return record


_OPERATIONS = ("forward", "raster_forward", "forward_backward")


def measure_fast(
    scenes: list[tuple[object, torch.Tensor]], backend: str, reps: int, rounds: int
) -> list[dict[str, object]]:
    """Forward / rasterizer / step timings of a fast backend on every scene, in ``rounds`` interleaved rounds
    of ``reps / rounds`` repetitions each (steps: half as many, at least one); medians over all repetitions."""
    calls = [dict(zip(_OPERATIONS, _calls(g, target, backend))) for g, target in scenes]
    times: list[dict[str, list[list[float]]]] = [{op: [] for op in _OPERATIONS} for _ in scenes]
    per_round = max(1, round(reps / rounds))
    for _ in range(rounds):
        for scene_calls, scene_times in zip(calls, times):
            for op in _OPERATIONS:
                n = max(1, per_round // 2) if op == "forward_backward" else per_round
                scene_times[op].append(timed_ms(scene_calls[op], backend, 1, n))
    records = []
    for scene_times in times:
        record: dict[str, object] = {}
        for op in _OPERATIONS:
            record[f"{op}_ms"] = statistics.median(t for batch in scene_times[op] for t in batch)
            record[f"{op}_rounds_ms"] = [statistics.median(batch) for batch in scene_times[op]]
        record["reps"] = per_round * rounds
        record["rounds"] = rounds
        record["forward_fps"] = 1e3 / record["forward_ms"]
        records.append(record)
    return records


# ------------------------------------------------------------------------------------------ subprocesses
def _child(args: argparse.Namespace) -> None:
    """Subprocess entry: ``--child first-call`` or ``--child memory`` (prints one JSON line)."""
    if args.child == "first-call":
        start = time.perf_counter()
        from fast2dgs_cli.render.cpu_backend import warm_up

        imported = time.perf_counter() - start
        print(json.dumps({"import_s": imported, "warm_up_s": warm_up()}))
        return
    gaussians = torch.load(args.scene, weights_only=False)
    height, width = args.size
    target = torch.zeros(height, width, 3)
    forward, _, step = _calls(gaussians, target, args.backend)
    call = forward if args.op == "forward" else step
    call()  # compile / load kernels, allocator warm-up
    base_rss, reset = _reset_peak()
    call()
    peak = _peak_rss(reset)
    print(json.dumps({"peak_rss_mb": max(0.0, peak - base_rss) / 2**20, "method": "VmHWM" if reset else "ru_maxrss"}))


def _reset_peak() -> tuple[float, bool]:
    """Current RSS in bytes, and whether the peak (VmHWM) could be reset to it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        status = Path("/proc/self/status").read_text()
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) * 1024
        return float(rss), True
    except (OSError, StopIteration, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0, False


def _peak_rss(reset: bool) -> float:
    if reset:
        status = Path("/proc/self/status").read_text()
        return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) * 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


def _run_child(extra: list[str], env: dict[str, str] | None = None) -> dict[str, object]:
    command = [sys.executable, str(Path(__file__).resolve()), *extra]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def first_call_costs() -> dict[str, object]:
    """Seconds to import + compile the cpu kernels into an empty cache, and to load them from the cache."""
    with tempfile.TemporaryDirectory() as empty:
        cold = _run_child(["--child", "first-call"], env={**os.environ, "NUMBA_CACHE_DIR": empty})
    _run_child(["--child", "first-call"])  # make sure the default cache is populated
    cached = _run_child(["--child", "first-call"])
    return {"compile_cold_cache": cold, "load_from_cache": cached}


# ------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_kodak_arguments(parser)
    parser.add_argument("--image", default="kodim05", help="Kodak image name (a landscape 768×512 one)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[2000, 10000, 50000])
    parser.add_argument("--fit-steps", type=int, default=100)
    parser.add_argument(
        "--reps", type=int, default=40, help="timed repetitions per scene (the torch reference: at most this many)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds the fast backends' repetitions are split into"
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "f2dgs-render-speed")
    parser.add_argument("--out", type=Path, default=RESULTS / "render_speed.json")
    parser.add_argument("--child", choices=["first-call", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--scene", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--op", choices=["forward", "forward_backward"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    from fast2dgs_cli.render import available_backends
    from fast2dgs_cli.render.cpu_backend import warm_up

    print("first-call cost of the cpu kernels (fresh processes)...", flush=True)
    first_call = first_call_costs()
    print(f"  {first_call}", flush=True)
    warm_up()
    image, stem = load_image(args.kodak / f"{args.image}.png")
    height, width = image.shape[:2]
    backends = ["torch", "cpu"] + (["gmod"] if "gmod" in [b.value for b in available_backends()] else [])
    scenes = []
    for n in args.budgets:
        print(f"scene: {n} Gaussians fitted to {stem} ({width}x{height})", flush=True)
        g = fitted_scene(image, stem, n, args.fit_steps, args.cache)
        scenes.append((g, image, n))
    big = scenes[-1][0]
    hd_target = F.interpolate(image.permute(2, 0, 1)[None], size=HD, mode="bilinear", align_corners=False)
    scenes.append((big.resized((height, width), HD), hd_target[0].permute(1, 2, 0).contiguous(), len(big)))

    timings: dict[tuple[str, int], dict[str, object]] = {}
    for i, (g, target, n) in enumerate(scenes):
        h, w = target.shape[:2]
        print(f"torch {w}x{h} {n:6d} Gaussians ...", flush=True)
        timings["torch", i] = measure_reference(g, target, args.reps)
    for backend in backends[1:]:
        print(f"{backend} on every scene, {args.rounds} rounds ...", flush=True)
        for i, record in enumerate(measure_fast([(g, t) for g, t, _ in scenes], backend, args.reps, args.rounds)):
            timings[backend, i] = record

    results = []
    for i, (g, target, n) in enumerate(scenes):
        h, w = target.shape[:2]
        scene_file = args.cache / f"scene-{w}x{h}-{n}.pt"
        torch.save(g, scene_file)
        for backend in backends:
            record = {"backend": backend, "width": w, "height": h, "gaussians": n, **timings[backend, i]}
            if backend == "cpu" or (backend == "torch" and (w, h, n) == (width, height, 10000)):
                for op in ("forward", "forward_backward"):
                    child = ["--child", "memory", "--scene", str(scene_file), "--size", str(h), str(w)]
                    child += ["--backend", backend, "--op", op]
                    record[f"peak_rss_mb_{op}"] = _run_child(child).get("peak_rss_mb")
            fwd, fb = record.get("forward_ms"), record.get("forward_backward_ms")
            print(f"{backend:5s} {w}x{h} {n:6d} Gaussians: forward {fwd and round(fwd, 2)} ms, forward+backward "
                  f"{fb and round(fb, 2)} ms", flush=True)  # fmt: skip
            results.append(record)
    for record in results:  # speed-ups over the torch reference on the same scene
        scene = (record["width"], record["height"], record["gaussians"])
        ref = next(r for r in results if r["backend"] == "torch" and (r["width"], r["height"], r["gaussians"]) == scene)
        for key in ("forward_ms", "forward_backward_ms"):
            if record.get(key) and ref.get(key):
                record[f"speedup_{key[:-3]}"] = ref[key] / record[key]

    report = {
        "name": "render_speed",
        "description": "Renderer forward / forward+backward speed on Gaussians fitted to a Kodak image",
        "machine": machine_info(),
        "settings": {"image": stem, "budgets": args.budgets, "fit_steps": args.fit_steps, "reps": args.reps,
                     "rounds": args.rounds, "hd_size": list(HD)},
        "first_call_s": first_call,
        "memory_method": "peak RSS above the pre-call RSS in a fresh subprocess after one warm-up call "
        "(VmHWM reset via /proc/self/clear_refs; ru_maxrss growth where unavailable)",
        "results": results,
    }
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
