"""The encoder: image → `.g2d` bytes. The library under the CLI; it never prints.

```
encode_image:  pixels ─► init_gaussians ─► finetune ─► quantize ─► refine_codes (colours, (geometry, colours)
               × rounds; in bands on large pictures) ─► store_compactly (the storage order) ─► write_g2d (zstd)
```
The effort (``effort.EFFORTS``) sets the fine-tuning steps and schedule and the refinement's sweeps and rounds.
Decoding is ``decode.decode_g2d`` (no torch, no network weights).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from . import __version__
from .allocator import reusing_freed_memory
from .choices import DEFAULT_GAUSSIANS, Backend, InitMethod
from .container import write_g2d
from .effort import DEFAULT_EFFORT, effort_level
from .encoder.fit import FitConfig, default_steps, finetune
from .encoder.init import init_gaussians
from .encoder.order import store_compactly
from .encoder.quantize import encoder_bit_depths, quantize
from .encoder.refinement import refine_codes
from .gaussians import dequantize
from .metrics import psnr, to_uint8
from .render import load_kernels, render, resolve_backend
from .representation import BitDepths

__all__ = ["EncodeOptions", "EncodeResult", "Preparation", "encode_image", "fit_config", "prepare_encoder"]

@dataclass(frozen=True)
class EncodeOptions:
    """How to encode.

    Attributes:
        gaussians: the Gaussian budget (capped at the pixel count).
        fit: fine-tuning budgets and learning rates.
        seed: seed of every random choice; the same seed and input give the same bytes.
        init: initialization method.
        backend: renderer used for fine-tuning.
        bits: quantization bit depths (``None``: ``encoder_bit_depths`` of the image's size and budget).
        effort: 1–9 (``effort.EFFORTS``): the fine-tuning steps where ``fit`` leaves them ``None``, the rate
            decay of long fits, and the refinement's sweeps and rounds (``fit_config``, ``encoder.refinement``).
    """

    gaussians: int = DEFAULT_GAUSSIANS
    fit: FitConfig = field(default_factory=FitConfig)
    seed: int = 0
    init: InitMethod = InitMethod.PRIOR
    backend: Backend = Backend.AUTO
    bits: BitDepths | None = None
    effort: int = DEFAULT_EFFORT

    def __post_init__(self) -> None:
        effort_level(self.effort)  # ValueError outside 1–9


@dataclass(frozen=True)
class EncodeResult:
    """An encoded image and how it went.

    Attributes:
        data: the `.g2d` file's bytes.
        count: number of Gaussians stored.
        psnr: PSNR in dB of the decoded picture (8-bit) against the input.
        psnr_unquantized: PSNR of the fitted Gaussians before quantization (the cost of quantization is
            the difference).
        steps: fine-tuning steps taken.
        backend: the renderer backend used.
        seconds: wall time per stage (``init``, ``fit``, ``quantize``, ``refine``, ``entropy``, ``verify``).
    """

    data: bytes
    count: int
    psnr: float
    psnr_unquantized: float
    steps: int
    backend: Backend
    seconds: dict[str, float]


def encode_image(
    pixels: Tensor,
    options: EncodeOptions = EncodeOptions(),
    on_step: Callable[[int, int, float], None] | None = None,
) -> EncodeResult:
    """Encode an ``[H, W, 3]`` float image in [0, 1] to `.g2d` bytes.

    Args:
        pixels: the image.
        options: budget, fine-tuning, seed, backend, bit depths.
        on_step: fine-tuning progress callback ``(step, total steps, loss)``.
    """
    height, width = pixels.shape[:2]
    backend = resolve_backend(options.backend)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    count = min(options.gaussians, height * width)
    initial = init_gaussians(pixels, count, seed=options.seed, method=options.init)
    seconds["init"] = time.perf_counter() - clock

    bits = options.bits or encoder_bit_depths(height, width, count)
    with reusing_freed_memory():  # every step allocates and frees the same picture-sized arrays
        fitted = finetune(initial, pixels, fit_config(options, count, height * width), backend, on_step)
    seconds["fit"] = fitted.seconds

    clock = time.perf_counter()
    quantized = quantize(fitted.gaussians, height, width, bits)
    seconds["quantize"] = time.perf_counter() - clock

    clock = time.perf_counter()
    search = fitted.gaussians if options.bits is None else None  # bit depths the caller gave are kept
    with reusing_freed_memory():  # so does every band of the refinement
        quantized = store_compactly(refine_codes(quantized, pixels, backend, options.effort, search))
    seconds["refine"] = time.perf_counter() - clock

    clock = time.perf_counter()
    metadata = {
        "encoder": f"f2dgs {__version__}",
        "init": options.init.value,
        "seed": str(options.seed),
        "steps": str(fitted.steps),
        "effort": str(options.effort),
    }
    data = write_g2d(quantized, metadata)
    seconds["entropy"] = time.perf_counter() - clock

    clock = time.perf_counter()
    target = to_uint8(pixels)
    with torch.no_grad():
        quality = psnr(to_uint8(render(dequantize(quantized), height, width, backend).cpu()), target)
        unquantized = psnr(to_uint8(render(fitted.gaussians, height, width, backend).cpu()), target)
    seconds["verify"] = time.perf_counter() - clock
    return EncodeResult(data, quantized.count, quality, unquantized, fitted.steps, backend, seconds)


def fit_config(options: EncodeOptions, count: int, pixels: int) -> FitConfig:
    """``options.fit`` completed by ``options.effort`` for ``count`` Gaussians on ``pixels`` pixels: the steps
    (when ``None``) are the effort's ``step_factor`` times ``default_steps``, at least its ``min_steps``; an
    effort with a decay sets it and ``keep_best`` (unless ``fit`` has a decay), one with a ``scale_rate`` sets
    the log-scale learning rate (unless ``fit`` has another than ``FitConfig``'s), one with a ``backoff`` sets it
    (unless ``fit`` has one)."""
    level = effort_level(options.effort)
    fit = options.fit
    if fit.steps is None:
        steps = max(level.min_steps, round(level.step_factor * default_steps(count, pixels)))
        fit = dataclasses.replace(fit, steps=max(1, steps))
    if level.decay and fit.decay == 0.0:
        fit = dataclasses.replace(fit, decay=level.decay, keep_best=level.keep_best)
    if level.scale_rate is not None and fit.lr_scale == FitConfig.lr_scale:
        fit = dataclasses.replace(fit, lr_scale=level.scale_rate)
    if level.backoff is not None and fit.backoff is None:
        fit = dataclasses.replace(fit, backoff=level.backoff)
    return fit


class Preparation(NamedTuple):
    """What ``prepare_encoder`` did: ``(seconds, compiled)``.

    Attributes:
        seconds: wall time it took.
        compiled: whether any numba kernel was compiled (numba's on-disk cache missed) rather than loaded.
    """

    seconds: float
    compiled: bool


def prepare_encoder(options: EncodeOptions = EncodeOptions()) -> Preparation:
    """Compile (the first time on a machine) or load every numba kernel ``encode_image`` uses with ``options``,
    so that no encode pays for it.

    The renderer's kernels come first. When numba's cache had every one of them (its own hit and miss counts
    tell, not the time taken) the others are cached too, and that is all; after a compile, a 48×48 picture is
    encoded with ``options`` to compile the rest (initialization, refinement).
    """
    start = time.perf_counter()
    misses = _kernel_cache_misses()
    load_kernels(options.backend)
    if _kernel_cache_misses() == misses:
        return Preparation(time.perf_counter() - start, compiled=False)
    ramp = torch.linspace(0.0, 1.0, 48)
    pixels = torch.stack([ramp.expand(48, 48), ramp[:, None].expand(48, 48), torch.full((48, 48), 0.5)], dim=-1)
    encode_image(pixels, dataclasses.replace(options, gaussians=256))
    return Preparation(time.perf_counter() - start, compiled=True)


def _kernel_cache_misses() -> int:
    """Compilations so far in this process of the package's numba kernels: the sum of every dispatcher's cache
    misses (a kernel loaded from numba's on-disk cache counts a hit; one already in memory, neither)."""
    numba_dispatcher = sys.modules.get("numba.core.dispatcher")
    if numba_dispatcher is None:  # numba not loaded: nothing compiled
        return 0
    kernels = {
        id(value): value
        for name, module in list(sys.modules.items())
        if name.startswith(f"{__package__}.") and module is not None
        for value in vars(module).values()
        if isinstance(value, numba_dispatcher.Dispatcher)
    }
    return sum(sum(kernel.stats.cache_misses.values()) for kernel in kernels.values())
