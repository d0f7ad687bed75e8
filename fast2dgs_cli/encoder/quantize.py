"""Quantization, the encoder's side: fitted Gaussians → the codes of ``representation.QuantizedGaussians``.

``quantize`` picks, for every value, the code whose *decoded* float32 value is nearest, so the error is at most
half a step (plus float32 rounding of the grid itself); the encoder then re-chooses the codes for the decoded
picture (``refine``). It leaves the Gaussians in raster order of their quantized centres (by y, then x); the
order they are stored in is chosen last (``order.store_compactly``).
The bit depths and their measurements: ``docs/encoder.md``.
"""

from __future__ import annotations

import math

import numpy as np

from ..gaussians import Gaussians
from ..representation import (
    ATTRIBUTES,
    LOG_SCALE_LIMIT,
    MAX_BITS,
    BitDepths,
    QuantizedAttribute,
    QuantizedGaussians,
    code_dtype,
    grid_step,
    range_limit,
    rgb_to_stored,
)

__all__ = ["XY_STEPS_PER_SPACING", "encoder_bit_depths", "quantize"]

XY_STEPS_PER_SPACING = 20
"""Position steps per mean spacing between Gaussians, at least (``encoder_bit_depths``)."""

_STD_CLAMP = (1e-6, math.exp(LOG_SCALE_LIMIT) * (1 - 1e-6))
"""Standard deviations are clamped into this interval before taking the log (0 has no logarithm; a std of
4.8e8 px is already flat over any image)."""


def encoder_bit_depths(height: int, width: int, count: int) -> BitDepths:
    """The encoder's bit depths for ``count`` Gaussians on a ``height × width`` image, chosen for quality per byte.

    Positions get the fewest bits whose step is at most ``1/XY_STEPS_PER_SPACING`` of the mean spacing between
    Gaussians, ``√(H·W / count)`` px (denser Gaussians are smaller and need finer positions); scales 6 bits,
    rotations and colours 7 (measured in ``docs/encoder.md``).
    """
    spacing = math.sqrt(height * width / max(count, 1))
    xy = math.ceil(math.log2(max(max(height, width) * XY_STEPS_PER_SPACING / spacing, 2)))
    return BitDepths(xy=max(1, min(MAX_BITS, xy)), scale=6, rotation=7, color=7)


def _to_numpy(g: Gaussians) -> dict[str, np.ndarray]:
    """The values to quantize, ``[N, C]`` float64 each: xy, ln std, θ mod π, colour as (Y, C1, C2)."""
    raw = {name: getattr(g, name).detach().cpu().double().numpy() for name in ATTRIBUTES}
    for name, array in raw.items():
        if not np.all(np.isfinite(array)):
            raise ValueError(f"cannot quantize non-finite {name} values")
    theta = np.mod(raw["rotation"], math.pi)
    theta[theta >= math.pi] = 0.0  # np.mod can round up to exactly π
    values = {
        "xy": raw["xy"],
        "scale": np.log(np.clip(np.abs(raw["scale"]), *_STD_CLAMP)),
        "rotation": theta[:, None],
        "color": rgb_to_stored(raw["color"]),
    }
    for name, array in values.items():
        if array.size and np.abs(array).max() > range_limit(name):
            raise ValueError(f"cannot quantize {name}: |value| exceeds the format's limit {range_limit(name):g}")
    return values


def _quantize_channel_values(values: np.ndarray, bits: int, limit: float, common_step: bool) -> QuantizedAttribute:
    """Quantize ``[N, C]`` float64 values to the nearest float32 grid point of each channel.

    Each channel's range runs from its smallest value; with ``common_step`` every channel spans the widest
    channel's range (within ``±limit``), so all share one step.
    """
    n, channels = values.shape
    if n == 0:
        lo = hi = np.zeros(channels, np.float32)
    else:
        lo = _round_toward(values.min(axis=0), -np.inf)
        top_values = values.max(axis=0)
        if common_step:
            top_values = np.minimum(lo + (top_values - lo).max(), limit)
        hi = _round_toward(top_values, np.inf)
    top = (1 << bits) - 1
    step = grid_step(lo, hi, bits)
    safe = np.where(step > 0, step, np.float32(1)).astype(np.float64)
    guess = np.clip(np.rint((values - lo) / safe), 0, top)
    best, best_error = guess, None
    for candidate in (guess - 1, guess, guess + 1):
        candidate = np.clip(candidate, 0, top)
        decoded = lo + candidate.astype(np.float32) * step  # the decoder's float32 arithmetic
        error = np.abs(decoded.astype(np.float64) - values)
        if best_error is None:
            best, best_error = candidate, error
        else:
            better = error < best_error
            best, best_error = np.where(better, candidate, best), np.where(better, error, best_error)
    return QuantizedAttribute(bits, lo, hi, best.astype(code_dtype(bits)))


def _round_toward(values: np.ndarray, direction: float) -> np.ndarray:
    """Round float64 ``values`` to float32, moving one ulp toward ``direction`` when rounding went the other way."""
    rounded = values.astype(np.float32)
    wrong = rounded > values if direction < 0 else rounded < values
    return np.where(wrong, np.nextafter(rounded, np.float32(direction)), rounded).astype(np.float32)


def _check_size(height: int, width: int) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"reference size must be positive, got {width}x{height}")


def quantize(
    g: Gaussians, height: int, width: int, bits: BitDepths = BitDepths(), *, sort: bool = True
) -> QuantizedGaussians:
    """Quantize ``g``, fitted at ``height × width``, to per-channel uniform grids.

    Args:
        g: the Gaussians (any device or float dtype).
        height: reference height in pixels.
        width: reference width in pixels.
        bits: bit depth of each attribute.
        sort: store the Gaussians in raster order of their quantized centres (y, then x; ties keep the input
            order). The picture is the same; the file is smaller.

    Raises:
        ValueError: on non-finite values or values beyond the format's limits (``range_limit``).
    """
    _check_size(height, width)
    values = _to_numpy(g)
    attributes = {
        name: _quantize_channel_values(v, getattr(bits, name), range_limit(name), common_step=name == "color")
        for name, v in values.items()
    }
    q = QuantizedGaussians(height, width, len(g), **attributes)
    if sort and len(g) > 1:
        xy = q.xy.codes.astype(np.int64)
        return q.take(np.lexsort((xy[:, 0], xy[:, 1])))  # primary key y, then x; stable
    return q
