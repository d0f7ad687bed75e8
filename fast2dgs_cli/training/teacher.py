"""Teacher fits: the optimized Gaussians the networks learn from, and the prior's target map.

```
CropSpec ──cache hit?──yes──────────────────────────────────────────────► crop uint8, fitted Gaussians
    └─no─► load_crops ─► init_gaussians(gradient) ─► finetune(teacher_steps, cpu) ─► store ─┘
fitted xy ──impulses (one per centre, at its nearest pixel)──► blur σ = target_blur·√(H·W/K) ──► ÷ sum
          ──► target [H,W]: where fitted Gaussians end up, as a distribution over pixels
```

The cache lives outside the repository (``~/.cache/f2dgs/teacher`` by default), one small ``.pt`` file
per crop, named by the SHA-256 of everything the fit depends on: the photo (path, size, modification
time), the crop box and downscale, ``K``, the teacher steps and the seed. A resumed or repeated run
therefore refits nothing. Files are written atomically and read with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..encoder.fit import FitConfig, finetune
from ..encoder.init import init_gaussians
from ..gaussians import Gaussians
from ..metrics import psnr
from ..render import render
from .data import CropSpec, load_crops

__all__ = ["Example", "build_examples", "cache_key", "fit_teacher", "position_target"]

_CACHE_VERSION = 1


@dataclass(frozen=True)
class Example:
    """A training crop with its teacher's answer.

    Attributes:
        image: ``[c, c, 3]`` uint8 (a quarter of the memory of floats; thousands are held at once).
        k: the Gaussian budget of the crop.
        target: ``[c, c]`` float32 position distribution (sums to 1).
        teacher_psnr: PSNR of the teacher's rendering, in dB.
    """

    image: Tensor
    k: int
    target: Tensor
    teacher_psnr: float


def cache_key(spec: CropSpec, steps: int, seed: int) -> str:
    """SHA-256 hex naming the teacher fit of ``spec``."""
    stat = spec.path.stat()
    fields = {**asdict(spec), "path": str(spec.path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    fields.update(steps=steps, seed=seed, version=_CACHE_VERSION)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


TEACHER_LR_XY = 1.2e-3
"""Position learning rate of the teacher fits: the rate the shipped networks were trained with, kept fixed so
the README's training command still reproduces them (long fits from the gradient init move further than the
encoder's short ones, for which ``fit.XY_STEP`` scales the rate with the budget)."""


def fit_teacher(image: Tensor, k: int, steps: int, seed: int) -> tuple[Gaussians, float]:
    """Fit ``k`` Gaussians to ``image`` (``[H,W,3]`` float): gradient init + ``steps`` of fine-tuning.

    Returns:
        the fitted Gaussians and the PSNR of their rendering.
    """
    height, width = image.shape[:2]
    start = init_gaussians(image, k, seed=seed, method="gradient")
    fitted = finetune(start, image, FitConfig(steps=steps, lr_xy=TEACHER_LR_XY), backend="cpu").gaussians
    return fitted, psnr(render(fitted, height, width, "cpu").clamp(0, 1), image)


def position_target(gaussians: Gaussians, height: int, width: int, blur: float) -> Tensor:
    """The fitted centres as a smooth distribution over pixels: ``[H, W]`` float32 summing to 1.

    Each centre inside the image adds one impulse at its nearest pixel; the impulse map is blurred by a
    Gaussian of ``blur`` times the mean spacing ``√(H·W/K)`` (≥ 1 px), with the border corrected by
    dividing by the blurred all-ones map, then normalized. No centre inside gives the uniform map.
    """
    cols = torch.round(gaussians.xy[:, 0].double() * width)
    rows = torch.round(gaussians.xy[:, 1].double() * height)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    impulses = torch.zeros(height * width)
    impulses.index_add_(0, (rows[inside] * width + cols[inside]).long(), torch.ones(int(inside.sum())))
    if not bool(inside.any()):
        return torch.full((height, width), 1.0 / (height * width))
    sigma = max(1.0, blur * math.sqrt(height * width / len(gaussians)))
    blurred = _blur(impulses.reshape(1, 1, height, width), sigma) / _blur(torch.ones(1, 1, height, width), sigma)
    return (blurred / blurred.sum()).reshape(height, width)


def _blur(grid: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur with zero padding of a ``[1, 1, H, W]`` map."""
    radius = max(1, int(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    grid = F.conv2d(F.pad(grid, (radius, radius, 0, 0)), kernel.reshape(1, 1, 1, -1))
    return F.conv2d(F.pad(grid, (0, 0, radius, radius)), kernel.reshape(1, 1, -1, 1))


def _load(path: Path) -> dict[str, Tensor] | None:
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError):
        return None  # unreadable entry: refit and overwrite it
    return payload if isinstance(payload, dict) and payload.get("version") == _CACHE_VERSION else None


def _store(path: Path, payload: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    partial.replace(path)


def build_examples(
    specs: list[CropSpec], steps: int, seed: int, cache_dir: Path, blur: float,
    on_done: Callable[[int, int], None] | None = None,
) -> list[Example]:  # fmt: skip
    """Teacher-fit every crop of ``specs`` (or read it from ``cache_dir``), in ``specs`` order.

    Args:
        specs: the planned crops.
        steps: teacher fine-tuning steps.
        seed: seed of the teacher's init.
        cache_dir: the teacher cache folder.
        blur: ``position_target``'s blur, in mean spacings.
        on_done: called with ``(done, total)`` after each crop.
    """
    by_photo: dict[Path, list[int]] = defaultdict(list)
    for index, spec in enumerate(specs):
        by_photo[spec.path].append(index)
    examples: dict[int, Example] = {}
    for indices in by_photo.values():
        paths = {i: cache_dir / f"{cache_key(specs[i], steps, seed)}.pt" for i in indices}
        payloads = {i: _load(paths[i]) for i in indices}
        missing = [i for i in indices if payloads[i] is None]
        if missing:
            for i, crop in zip(missing, load_crops([specs[i] for i in missing])):
                fitted, quality = fit_teacher(crop.float() / 255, specs[i].k, steps, seed)
                payloads[i] = {"version": _CACHE_VERSION, "crop": crop, "psnr": quality, **asdict(fitted)}
                _store(paths[i], payloads[i])
        for i in indices:
            examples[i] = _example(payloads[i], specs[i].k, blur)
            if on_done is not None:
                on_done(len(examples), len(specs))
    return [examples[i] for i in range(len(specs))]


def _example(payload: dict[str, object], k: int, blur: float) -> Example:
    crop: Tensor = payload["crop"]  # type: ignore[assignment]
    height, width = crop.shape[:2]
    fitted = Gaussians(*(payload[name] for name in ("xy", "scale", "rotation", "color")))  # type: ignore[misc]
    target = position_target(fitted, height, width, blur)
    return Example(crop, k, target, float(payload["psnr"]))  # type: ignore[arg-type]
