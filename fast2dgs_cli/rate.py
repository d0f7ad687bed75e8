"""Rate control: how many Gaussians an image gets, from a quality setting or a target size.

```
-q/--quality q ──► density ρ(q) = ρ₇₀ · 2^((q − 70)/15) Gaussians per pixel ──► K = round(ρ·H·W)
--bpp X        ──► K₀ from the bits per Gaussian of the quantized *initial* Gaussians (cheap: no fitting)
                   ──► encode at K ──► file in [0.9, 1]·X·H·W/8 bytes? done : K ← K·(target/bytes), again
--gaussians N  ──► K = N (expert)
```

Quality 70 is ρ₇₀ = 10,000 / (768·512) ≈ 0.025: 10k Gaussians on a Kodak image. Every 15 quality points
double (or halve) the budget, so q = 100 is about 0.10 Gaussians per pixel and q = 0 about 0.001. The
default, ``DEFAULT_QUALITY`` (60: about 6,300 Gaussians on a Kodak image), is where f2dgs beats JPEG at
the same bytes (benchmarks/README.md).

For ``--bpp`` the size of a file is nearly proportional to its Gaussian count (the header is a few dozen
bytes; bits per Gaussian depend on the image through the entropy coder), so the bits per Gaussian are first
measured on the quantized initialization, which takes a fraction of a second, and aimed 5 % under the
target after allowing for the ``_FIT_GROWTH`` that fine-tuning adds (fitted Gaussians are sharper and more
varied than the initial ones, so they cost more bits). If the full encode misses, the budget is scaled by the
measured ratio, or read off the line between an encode that fits and one that overshoots once there are
both, and the image encoded again, at most ``MAX_ENCODES`` times in all.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from torch import Tensor

from .choices import DEFAULT_DENSITY, DEFAULT_QUALITY, MAX_ENCODES, REFERENCE_QUALITY, RateChoice
from .codec import EncodeOptions, EncodeResult, encode_image
from .container import write_g2d
from .encoder.init import init_gaussians
from .encoder.order import store_compactly
from .encoder.quantize import encoder_bit_depths, quantize
from .errors import RequestError

__all__ = ["DEFAULT_QUALITY", "MAX_ENCODES", "RateChoice", "budget_for_quality", "encode_at_rate", "encode_to_bpp"]

_QUALITY_PER_DOUBLING = 15.0
_AIM = 0.95
"""Share of the byte target aimed at."""
_FIT_GROWTH = 1.08
"""How much bigger a fitted file is than its quantized initialization at the same budget, so that one encode
usually lands in [0.9, 1]·target (measured in ``docs/encoder.md``)."""


def encode_at_rate(
    pixels: Tensor,
    rate: RateChoice,
    options: EncodeOptions = EncodeOptions(),
    on_step: Callable[[int, int, float], None] | None = None,
) -> EncodeResult:
    """Encode ``pixels`` (``[H, W, 3]`` float in [0, 1]) at ``rate``; ``options.gaussians`` is ignored."""
    height, width = pixels.shape[:2]
    if rate.bpp is not None:
        return encode_to_bpp(pixels, rate.bpp, options, on_step)
    quality = DEFAULT_QUALITY if rate.quality is None else rate.quality
    budget = rate.gaussians or budget_for_quality(quality, height, width)
    return encode_image(pixels, dataclasses.replace(options, gaussians=budget), on_step)


def budget_for_quality(quality: float, height: int, width: int) -> int:
    """Gaussian budget of a ``height × width`` image at ``quality`` (0–100), at least 1, at most H·W."""
    if not 0 <= quality <= 100:
        raise ValueError(f"quality must be between 0 and 100, got {quality}")
    density = DEFAULT_DENSITY * 2.0 ** ((quality - REFERENCE_QUALITY) / _QUALITY_PER_DOUBLING)
    return max(1, min(height * width, round(density * height * width)))


def encode_to_bpp(
    pixels: Tensor,
    bpp: float,
    options: EncodeOptions = EncodeOptions(),
    on_step: Callable[[int, int, float], None] | None = None,
) -> EncodeResult:
    """Encode ``pixels`` with the largest budget found whose whole file is at most ``bpp`` bits per pixel.

    Args:
        pixels: ``[H, W, 3]`` float image in [0, 1].
        bpp: the size limit in bits per pixel (whole file, header included).
        options: everything but the budget (``options.gaussians`` is ignored).
        on_step: fine-tuning progress callback of each encode, ``(step, total steps, loss)``.

    Raises:
        RequestError: when even one Gaussian does not fit, or no budget fits within ``MAX_ENCODES`` encodes.
    """
    height, width = pixels.shape[:2]
    target = math.floor(bpp * height * width / 8)
    budget = _estimate_budget(pixels, target, options)
    best: EncodeResult | None = None
    under: tuple[int, int] | None = None  # (budget, size) of the largest file that fits
    over: tuple[int, int] | None = None  # (budget, size) of the smallest budget whose file does not fit (the
    # size is not monotonic in the budget: a smaller budget can make a bigger file)
    for _ in range(MAX_ENCODES):
        result = encode_image(pixels, dataclasses.replace(options, gaussians=budget), on_step)
        size = len(result.data)
        if size <= target:
            if best is None or size > len(best.data):
                best, under = result, (budget, size)
            if size >= 0.9 * target or budget == height * width:
                break
        elif over is None or budget < over[0]:
            over = (budget, size)
        budget = _next_budget(budget, size, _AIM * target, under, over, height * width)
    if best is None:
        raise RequestError(f"no Gaussian budget fits in {bpp} bpp ({target} bytes) for this {width}x{height} image")
    return best


def _next_budget(
    budget: int, size: int, aim: float, under: tuple[int, int] | None, over: tuple[int, int] | None, most: int
) -> int:
    """Budget to encode next: the line through the closest fitting and overshooting encodes read at ``aim``
    bytes once both exist (proportional scaling alone can jump back and forth around the target), else
    ``budget`` scaled by ``aim / size``."""
    if under is not None and over is not None and over[0] - under[0] > 1:
        (low, low_size), (high, high_size) = under, over
        guess = low + (aim - low_size) * (high - low) / max(high_size - low_size, 1)
        return min(high - 1, max(low + 1, math.floor(guess)))
    return max(1, min(most, math.floor(budget * aim / size)))


def _estimate_budget(pixels: Tensor, target: int, options: EncodeOptions) -> int:
    """Budget whose quantized, entropy-coded *initialization* takes about ``_AIM · target`` bytes."""
    height, width = pixels.shape[:2]
    budget = max(1, min(height * width, target // 9))  # about 72 bits per Gaussian as a first guess
    for _ in range(2):
        initial = init_gaussians(pixels, budget, seed=options.seed, method=options.init)
        bits = options.bits or encoder_bit_depths(height, width, budget)
        size = len(write_g2d(store_compactly(quantize(initial, height, width, bits)), {}))
        budget = max(1, min(height * width, math.floor(budget * _AIM * target / (size * _FIT_GROWTH))))
    return budget
