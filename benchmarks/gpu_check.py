"""GPU check: gmod draws what the CPU backends draw, with the same gradients, and fast enough.

For anyone with a CUDA machine and a built gmod (README, "Installing gmod"):

    PYTHONPATH=. python benchmarks/gpu_check.py [--image PATH] [--fit-steps 50] [--reps 100] [--out FILE]

(from the repository root; ``PYTHONPATH=.`` picks this checkout's ``fast2dgs_cli`` over any installed one)

It records, in order:

1. ``probe``: ``render.gmod_unavailable_reason()``, ``null`` when gmod works here;
2. ``binning``: per Gaussian, the tile count the adapter hands gmod (``gmod_backend.tile_counts``) against the
   intersections gmod's own ``bin_and_sort_gaussians`` writes, and the (tile, Gaussian) pairs of both, on
   random, degenerate (needles, zero area, huge, inf and NaN centres), crowded and all-culled scenes at
   H×W = 1×1, 17×300, 33×16 and 50×77;
3. ``parity``: on the same scenes, gmod's picture and its gradients to xy, scale, rotation and colour against the
   torch reference (``parity``, the harness the tests run on the ``cpu`` backend);
4. ``finetune``: a short fit on CUDA next to the same fit on the CPU;
5. ``speed``: forward and forward+backward frames per second at 768×512 with 10k fitted Gaussians and at
   512×512 with 50k (fitted on CUDA to ``--image``, cropped and resized).

Goals: every picture within ``FORWARD_TOLERANCE`` of the reference, every gradient within the harness's bound,
identical binning, a working fit, and more than ``FPS_GOAL`` forward frames per second at 768×512 with 10k.
The JSON goes to ``benchmarks/results/gpu-<GPU name, else host name>.json``.

Exit status: 0 every goal met; 1 a goal missed (the JSON says which); 2 bad arguments; 3 nothing to check
here: no CUDA device, or gmod unavailable (the message says why; with CUDA, the JSON records the probe).

Self-contained apart from the ``fast2dgs_cli`` package: copy it next to the package on a GPU machine.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import Tensor

from fast2dgs_cli.bench import machine_info
from fast2dgs_cli.encoder.fit import FitConfig, finetune
from fast2dgs_cli.encoder.init import init_gaussians
from fast2dgs_cli.gaussians import Gaussians
from fast2dgs_cli.imageio import load_image
from fast2dgs_cli.render import gmod_unavailable_reason, project, render
from fast2dgs_cli.render.gmod_backend import DEVICE, import_gmod, tile_counts
from fast2dgs_cli.render.projection import Projected, bin_tiles, tile_grid
from fast2dgs_cli.render.reference import rasterize_reference

HERE = Path(__file__).resolve().parent
DEFAULT_IMAGE = HERE.parent / "tests" / "data" / "kodim23-384x256.png"
SIZES = ((1, 1), (17, 300), (33, 16), (50, 77))
"""``(height, width)`` of the binning and parity checks: odd sizes, partial tiles, a single pixel."""
FORWARD_TOLERANCE = 1e-5
"""Largest absolute difference allowed between a backend's picture and the reference's."""
FPS_GOAL = 1000.0
"""Forward frames per second wanted at 768×512 with 10k Gaussians."""
SPEED_SCENES = (((512, 768), 10_000), ((512, 512), 50_000))
PARAMETERS = ("xy", "scale", "rotation", "color")
NO_CHECK = 3


# ------------------------------------------------------------------------------------------ scenes
def random_scene(n: int, seed: int, spread: float = 1.4, max_scale: float = 6.0) -> Gaussians:
    """``n`` Gaussians with random anisotropy and rotation, some centred off the image (``spread`` > 1)."""
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * spread - (spread - 1) / 2
    scale = 0.3 + max_scale * torch.rand(n, 2, generator=gen)
    rotation = (torch.rand(n, generator=gen) - 0.5) * 2 * math.pi
    return Gaussians(xy, scale, rotation, torch.rand(n, 3, generator=gen))


def degenerate_scene(seed: int) -> Gaussians:
    """Ordinary Gaussians mixed with needles, slivers, zero-area, huge ones and inf / NaN centres."""
    base = random_scene(30, seed)
    xy, scale, rotation = base.xy.clone(), base.scale.clone(), base.rotation.clone()
    scale[0:2, 0] = 1e-3  # needles along an axis
    rotation[0], rotation[1] = 0.0, math.pi / 2
    scale[2:4, 0] = 0.1  # rotated slivers
    scale[4:6] = 0.0  # det == 0: culled
    scale[6:8] = 40.0  # wider than the picture
    xy[8] = math.inf
    xy[9, 0] = -math.inf
    xy[10] = math.nan
    return Gaussians(xy, scale, rotation, base.color)


def crowded_scene(seed: int) -> Gaussians:
    """40 wide Gaussians around the centre: every pixel there has far more than 10 candidates."""
    gen = torch.Generator().manual_seed(seed)
    xy = 0.5 + 0.05 * torch.randn(40, 2, generator=gen)
    scale = 3.0 + 5.0 * torch.rand(40, 2, generator=gen)
    return Gaussians(xy, scale, 3.0 * torch.rand(40, generator=gen), torch.rand(40, 3, generator=gen))


def culled_scene() -> Gaussians:
    """Nothing reaches a tile (off the picture, zero area, inf and NaN centres): the picture is black."""
    xy = torch.tensor([[5.0, 5.0], [-3.0, 0.5], [0.5, 0.5], [math.inf, 0.5], [math.nan, math.nan]])
    scale = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0], [1.0, 1.0], [1.0, 1.0]])
    return Gaussians(xy, scale, torch.zeros(5), torch.ones(5, 3))


def scenes() -> dict[str, Gaussians]:
    """The named scenes every check runs on."""
    return {"random": random_scene(300, 1), "degenerate": degenerate_scene(2), "crowded": crowded_scene(3),
            "culled": culled_scene()}  # fmt: skip


# ------------------------------------------------------------------------------------------ parity
def parity(scene: Gaussians, height: int, width: int, backend: str, seed: int = 0) -> dict[str, float]:
    """``backend`` against the torch reference on one scene.

    Returns ``forward_max_abs``, the largest pixel difference, and per parameter ``<name>_grad_excess``: the
    worst excess of ``|ours − ref|`` over ``1e-6 + 1e-4·|ref| + 1e-4·max|ref| + |ref − ref64|`` (≤ 0 passes),
    where ``ref64`` is the reference rasterizer run in float64, a measure of the reference's own rounding; the
    ``max|ref|`` term leaves room for float32 sums taken in another order (gmod adds each Gaussian's gradient
    with atomics, in an order that changes between runs). The loss is the picture weighted by a fixed random
    map, so every pixel's gradient counts.
    """
    weights = torch.randn(height, width, 3, generator=torch.Generator().manual_seed(seed))
    ref_image, ref_grads = _picture_and_gradients(scene, weights, lambda g: _reference(g, height, width))
    _, wide_grads = _picture_and_gradients(scene, weights, lambda g: _reference(g, height, width, torch.float64))
    image, grads = _picture_and_gradients(scene, weights, lambda g: render(g, height, width, backend))
    record = {"forward_max_abs": _worst((image - ref_image).abs())}
    for name, ours, ref, wide in zip(PARAMETERS, grads, ref_grads, wide_grads):
        bound = 1e-6 + 1e-4 * ref.abs() + 1e-4 * _worst(ref.abs()) + (ref - wide).abs()
        record[f"{name}_grad_excess"] = _worst((ours - ref).abs() - bound)
    return record


def parity_passed(record: dict[str, float]) -> bool:
    """Whether a ``parity`` record meets the goals."""
    grads_ok = all(record[f"{name}_grad_excess"] <= 0 for name in PARAMETERS)
    return record["forward_max_abs"] <= FORWARD_TOLERANCE and grads_ok


def _reference(gaussians: Gaussians, height: int, width: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """The torch reference picture; in float64 the rasterizer runs on the float32 projection widened."""
    p = project(gaussians, height, width)
    wide = Projected(p.xys.to(dtype), p.conics.to(dtype), p.colors.to(dtype), p.radii, p.tile_box, height, width)
    return rasterize_reference(wide).float()


def _picture_and_gradients(
    scene: Gaussians, weights: Tensor, draw: Callable[[Gaussians], Tensor]
) -> tuple[Tensor, list[Tensor]]:
    """``draw``'s picture of ``scene`` (on the CPU) and the gradients of ``Σ picture·weights`` to the Gaussians."""
    params = [t.detach().clone().requires_grad_(True) for t in (scene.xy, scene.scale, scene.rotation, scene.color)]
    image = draw(Gaussians(*params)).cpu()
    (image * weights).sum().backward()
    return image.detach(), [torch.zeros_like(p) if p.grad is None else p.grad for p in params]


def _worst(values: Tensor) -> float:
    """The largest element as a float (NaN counts as +inf; ``-inf`` for an empty tensor)."""
    if values.numel() == 0:
        return -math.inf
    return float(torch.nan_to_num(values.double(), nan=math.inf).max())


# ------------------------------------------------------------------------------------------ binning
def adapter_pairs(projected: Projected) -> Tensor:
    """Sorted keys ``tile·N + gaussian`` of every (tile, Gaussian) pair the adapter's tile boxes imply."""
    bins = bin_tiles(projected)
    per_tile = bins.tile_start[1:] - bins.tile_start[:-1]
    tiles = torch.repeat_interleave(torch.arange(len(per_tile)), per_tile)
    return torch.sort(tiles * len(projected.radii) + bins.gaussian_ids).values


def gmod_binning(projected: Projected, gsplat: ModuleType) -> tuple[Tensor, Tensor]:
    """gmod's own binning of ``projected`` (on ``DEVICE``): per-Gaussian intersection counts and sorted pair keys."""
    n = len(projected.radii)
    counts = tile_counts(projected.tile_box.to(DEVICE))
    if int(counts.sum()) == 0:
        return torch.zeros(n, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
    total, cumulative = gsplat.compute_cumulative_intersects(counts)
    tiles_x, tiles_y = tile_grid(projected.height, projected.width)
    xys = projected.xys.detach().float().contiguous()
    radii = projected.radii.to(torch.int32).contiguous()
    _, ids, keys, sorted_ids, _ = gsplat.bin_and_sort_gaussians(n, total, xys, radii, cumulative, (tiles_x, tiles_y, 1))
    per_gaussian = torch.bincount(ids.long().cpu(), minlength=n)
    pairs = (keys.cpu() >> 32) * n + sorted_ids.long().cpu()
    return per_gaussian, torch.sort(pairs).values


def binning_check(scene: Gaussians, height: int, width: int, gsplat: ModuleType) -> dict[str, object]:
    """The adapter's tile counts and pairs against gmod's ``bin_and_sort_gaussians`` on one scene."""
    with torch.no_grad():
        projected = project(scene.to(device=DEVICE), height, width)
    ours = tile_counts(projected.tile_box).cpu().long()
    theirs, their_pairs = gmod_binning(projected, gsplat)
    mismatches = int((ours != theirs).sum())
    same_pairs = torch.equal(adapter_pairs(projected), their_pairs)
    return {"intersections": int(ours.sum()), "count_mismatches": mismatches, "pairs_equal": same_pairs,
            "passed": mismatches == 0 and same_pairs}  # fmt: skip


# ------------------------------------------------------------------------------------------ fit and speed
def picture(image: Tensor, height: int, width: int) -> Tensor:
    """``image`` ``[H, W, 3]`` centre-cropped to the aspect ratio of ``height × width``, then resized to it."""
    rows, cols = image.shape[:2]
    keep_rows, keep_cols = min(rows, round(cols * height / width)), min(cols, round(rows * width / height))
    top, left = (rows - keep_rows) // 2, (cols - keep_cols) // 2
    crop = image[top : top + keep_rows, left : left + keep_cols].permute(2, 0, 1)[None]
    resized = F.interpolate(crop, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return resized[0].permute(1, 2, 0).clamp(0, 1).contiguous()


def finetune_check(image: Tensor, count: int, steps: int) -> dict[str, object]:
    """The same short fit on gmod and on the CPU: it runs on CUDA, returns CPU tensors, and lands close by."""
    initial = init_gaussians(image, count, seed=0)
    fits = {backend: finetune(initial, image, FitConfig(steps=steps), backend=backend) for backend in ("gmod", "cpu")}
    gpu, cpu = fits["gmod"], fits["cpu"]
    gap = abs(gpu.losses[-1] - cpu.losses[-1]) / cpu.losses[-1]
    on_cpu = all(t.device.type == "cpu" for t in (gpu.gaussians.xy, gpu.gaussians.scale, gpu.gaussians.color))
    record: dict[str, object] = {
        "size": list(image.shape[:2]), "gaussians": count, "steps": steps,
        "gmod_losses": [gpu.losses[0], gpu.losses[-1]], "cpu_losses": [cpu.losses[0], cpu.losses[-1]],
        "final_loss_gap": gap, "gmod_seconds": gpu.seconds, "cpu_seconds": cpu.seconds, "result_on_cpu": on_cpu,
    }  # fmt: skip
    record["passed"] = on_cpu and math.isfinite(gap) and gpu.losses[-1] < gpu.losses[0] and gap <= 0.02
    return record


def speed(gaussians: Gaussians, target: Tensor, reps: int) -> dict[str, float]:
    """Median forward and forward+backward (MSE, as a fine-tuning step) frames per second on gmod."""
    height, width = target.shape[:2]
    scene, target = gaussians.to(device=DEVICE), target.to(DEVICE)
    params = [t.detach().clone().requires_grad_(True) for t in (scene.xy, scene.scale, scene.rotation, scene.color)]

    def forward() -> None:
        with torch.no_grad():
            render(scene, height, width, "gmod")

    def step() -> None:
        F.mse_loss(render(Gaussians(*params), height, width, "gmod"), target).backward()

    return {"forward_fps": 1e3 / _median_ms(forward, reps), "forward_backward_fps": 1e3 / _median_ms(step, reps)}


def _median_ms(call: Callable[[], None], reps: int) -> float:
    """Median wall time of ``call`` in ms, each call waited for on the GPU, after a few untimed ones."""
    for _ in range(5):
        call()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        torch.cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


# ------------------------------------------------------------------------------------------ driver
def _checks(args: argparse.Namespace) -> dict[str, object]:
    """Run every check on CUDA; the results, per section."""
    gsplat = import_gmod()
    found = scenes()
    binning, parities = [], []
    for (height, width), (name, scene) in ((size, item) for size in SIZES for item in found.items()):
        where = {"scene": name, "height": height, "width": width, "gaussians": len(scene)}
        binning.append(where | binning_check(scene, height, width, gsplat))
        record = parity(scene, height, width, "gmod")
        parities.append(where | record | {"passed": parity_passed(record)})
        print(f"  {name} {height}x{width}: binning {binning[-1]['passed']}, parity {parities[-1]['passed']}")
    image = torch.from_numpy(load_image(args.image).pixels)
    fit = finetune_check(image, min(2500, image.shape[0] * image.shape[1]), args.fit_steps)
    print(f"  finetune: {fit['passed']} (final loss gap {fit['final_loss_gap']:.2e})")
    speeds = []
    for (height, width), count in SPEED_SCENES:
        target = picture(image, height, width)
        fitted = finetune(init_gaussians(target, count, seed=0), target, FitConfig(steps=args.fit_steps), "gmod")
        measured = speed(fitted.gaussians, target, args.reps)
        speeds.append({"height": height, "width": width, "gaussians": count} | measured)
        print(f"  speed {width}x{height}, {count}: {speeds[-1]['forward_fps']:.0f} FPS forward")
    return {"binning": binning, "parity": parities, "finetune": fit, "speed": speeds}


def _goals(results: dict[str, object]) -> dict[str, bool]:
    """Which goals the results meet."""
    first = results["speed"][0]
    return {
        "binning_identical": all(r["passed"] for r in results["binning"]),
        "same_picture_and_gradients": all(r["passed"] for r in results["parity"]),
        "finetune_on_cuda": bool(results["finetune"]["passed"]),
        "fps_768x512_10k": first["forward_fps"] > FPS_GOAL,
    }


def _out_path(args: argparse.Namespace) -> Path:
    if args.out is not None:
        return args.out
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.node()
    return HERE / "results" / f"gpu-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-') or 'unknown'}.json"


def _write(report: dict[str, object], args: argparse.Namespace) -> None:
    path = _out_path(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    """Run the check; return the exit status (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="photo for the fit and speed scenes")
    parser.add_argument("--fit-steps", type=int, default=50, help="fine-tuning steps of the fitted scenes")
    parser.add_argument("--reps", type=int, default=100, help="timed repetitions per speed figure")
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/gpu-<gpu>.json)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); it needs a CUDA GPU and a "
              "built gmod (README, 'Installing gmod'). Nothing was checked.", file=sys.stderr)  # fmt: skip
        return NO_CHECK
    report: dict[str, object] = {"name": "gpu_check", "description": __doc__.splitlines()[0],
                                 "machine": machine_info(), "probe": gmod_unavailable_reason()}  # fmt: skip
    print(f"probe: {report['probe'] or 'gmod works'}")
    if report["probe"] is not None:
        _write(report, args)
        return NO_CHECK
    report |= _checks(args)
    report["goals"] = _goals(report)
    _write(report, args)
    print(json.dumps(report["goals"]))
    return 0 if all(report["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
