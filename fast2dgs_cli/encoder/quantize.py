"""Quantization: Gaussians ⇄ small integers, one uniform grid per attribute channel.

```
attribute    quantized value v          channels   range [lo, hi] (float32, stored in the file)
xy           x, y (normalized)          2          min/max of each axis
scale        ln(std in px)              2          min/max of each axis, in the log domain
rotation     θ mod π  (in [0, π))       1          min/max of θ mod π (θ and θ+π draw the same Gaussian)
color        Y, C1, C2 (orthonormal)    3          min of each channel; one common step (widest range)
```
Code ``k`` of a channel with ``B`` bits stands for ``lo + k·step``, ``step = (hi − lo)/(2^B − 1)``, evaluated in
float32 in exactly the order ``formats/g2d.md`` §Dequantization writes down, so any decoder reproduces
``dequantize`` bit for bit (the scale's ``exp`` is correctly rounded to float32, the colour transform is
evaluated operation by operation in float32).

Colours are stored decorrelated: ``Y = (R+G+B)/√3``, ``C1 = (R−B)/√2``, ``C2 = (R−2G+B)/√6``, an orthonormal
transform, so a rounding error of a given size costs the same squared RGB error in any channel, and all three
share the step of the widest one. The two chroma channels of a natural image span a fraction of the luma's
range, so they take fewer distinct codes and entropy-code to fewer bits: on Kodak, 14.8 instead of 18.9 bits
per Gaussian at 7 bits, for 0.04 dB (3200 Gaussians, six images). ``quantize`` picks, for every
value, the code whose *decoded* float32 value is nearest, so the error is at most half a step (plus float32
rounding of the grid itself); the encoder then re-chooses the colour codes for the decoded picture
(``refine.refine_colours``).

``quantize`` also stores the Gaussians in raster order of their quantized centres (by y, then x): rendering
does not depend on the order, and the sorted y column then delta-codes to a few bits per Gaussian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from decimal import Context, Decimal
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily: the container (and `f2dgs info`) only need numpy
    from torch import Tensor

    from ..gaussians import Gaussians

__all__ = [
    "ATTRIBUTES",
    "BitDepths",
    "MAX_BITS",
    "code_dtype",
    "exp_float32",
    "rgb_to_stored",
    "stored_to_rgb",
    "QuantizedAttribute",
    "QuantizedGaussians",
    "dequantize",
    "dequantize_attribute",
    "encoder_bit_depths",
    "quantize",
    "range_limit",
]

MAX_BITS = 24
"""Largest bit depth of a channel (codes up to 2^24 − 1 are exact in float32)."""
ATTRIBUTES: dict[str, int] = {"xy": 2, "scale": 2, "rotation": 1, "color": 3}
"""Attribute name → channel count, in storage order."""
VALUE_LIMIT = 2.0**20
"""Every range endpoint lies in ``[−VALUE_LIMIT, VALUE_LIMIT]`` (so ``hi − lo`` and every value are finite)."""
LOG_SCALE_LIMIT = 20.0
"""Scale ranges (natural log of the std) lie in ``[−20, 20]``: ``s²`` and ``det Σ`` stay finite in float32."""
_STD_CLAMP = (1e-6, math.exp(LOG_SCALE_LIMIT) * (1 - 1e-6))
"""Standard deviations are clamped into this interval before taking the log (0 has no logarithm; a std of
4.8e8 px is already flat over any image)."""


def range_limit(attribute: str) -> float:
    """The largest allowed ``|lo|``/``|hi|`` of ``attribute``'s range (``formats/g2d.md`` §Limits)."""
    return LOG_SCALE_LIMIT if attribute == "scale" else VALUE_LIMIT


@dataclass(frozen=True)
class BitDepths:
    """Bits per channel of each attribute (1 to ``MAX_BITS``).

    The class defaults (16, 10, 9, 8) are the conservative ones (at most about 0.09 dB on a fitted Kodak
    image, about 76 bits per Gaussian after zstd); the encoder uses ``encoder_bit_depths`` unless told
    otherwise. Measurements are in ``formats/g2d.md`` §9.
    """

    xy: int = 16
    scale: int = 10
    rotation: int = 9
    color: int = 8

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or not 1 <= value <= MAX_BITS:
                raise ValueError(f"BitDepths.{f.name} must be an integer from 1 to {MAX_BITS}, got {value!r}")


def encoder_bit_depths(height: int, width: int) -> BitDepths:
    """The encoder's default bit depths for a ``height × width`` image, chosen for quality per byte.

    Positions get ``ceil(log2(longest side)) + 2`` bits, a step of 1/4 to 1/8 px at any size (12 bits at
    768 px); scale, rotation and colour 7 bits each. Measured on six Kodak images (``formats/g2d.md`` §9):
    against (14, 8, 7, 7) the file is 10 % smaller for 0.06 dB at 10 000 Gaussians, where 10 % more Gaussians
    are worth about 0.25 dB; one bit less of colour saves another 6 % but costs 0.09 dB. With colour
    refinement (``refine.refine_colours``) one more bit of rotation costs 2 % more bytes for 0.02 dB.
    """
    xy = math.ceil(math.log2(max(height, width, 2))) + 2
    return BitDepths(xy=min(MAX_BITS, xy), scale=7, rotation=7, color=7)


@dataclass(frozen=True, eq=False)
class QuantizedAttribute:
    """One attribute's codes and grid.

    Attributes:
        bits: bits per code, 1 to ``MAX_BITS``.
        lo: ``[C]`` float32 value of code 0, per channel.
        hi: ``[C]`` float32 nominal value of the top code ``2^bits − 1``, per channel (``lo ≤ hi``).
        codes: ``[N, C]`` codes, uint16 when ``bits ≤ 16``, else uint32.
    """

    bits: int
    lo: np.ndarray
    hi: np.ndarray
    codes: np.ndarray

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= MAX_BITS:
            raise ValueError(f"bits must be from 1 to {MAX_BITS}, got {self.bits}")
        channels = self.codes.shape[1] if self.codes.ndim == 2 else -1
        for name in ("lo", "hi"):
            array = getattr(self, name)
            if array.dtype != np.float32 or array.shape != (channels,):
                raise ValueError(f"{name} must be float32 of shape ({channels},), got {array.dtype} {array.shape}")
        if self.codes.dtype != code_dtype(self.bits):
            raise ValueError(f"{self.bits}-bit codes must be {code_dtype(self.bits).__name__}, got {self.codes.dtype}")

    @property
    def channels(self) -> int:
        """Number of channels C."""
        return int(self.codes.shape[1])

    @property
    def step(self) -> np.ndarray:
        """``[C]`` float32 grid step, computed exactly as the decoder does."""
        return _step(self.lo, self.hi, self.bits)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantizedAttribute):
            return NotImplemented
        return (
            self.bits == other.bits
            and self.lo.tobytes() == other.lo.tobytes()
            and self.hi.tobytes() == other.hi.tobytes()
            and self.codes.dtype == other.codes.dtype
            and np.array_equal(self.codes, other.codes)
        )


@dataclass(frozen=True, eq=True)
class QuantizedGaussians:
    """Quantized Gaussians, exactly what a `.g2d` file stores.

    Attributes:
        height: reference height in pixels (the scales are in pixels of this size).
        width: reference width in pixels.
        count: number of Gaussians N.
        xy: normalized centres, 2 channels.
        scale: natural log of the standard deviations in pixels, 2 channels.
        rotation: rotation in radians (modulo π), 1 channel.
        color: colours as (Y, C1, C2) (``rgb_to_stored``), 3 channels.
    """

    height: int
    width: int
    count: int
    xy: QuantizedAttribute
    scale: QuantizedAttribute
    rotation: QuantizedAttribute
    color: QuantizedAttribute

    def __post_init__(self) -> None:
        for name, channels in ATTRIBUTES.items():
            shape = getattr(self, name).codes.shape
            if shape != (self.count, channels):
                raise ValueError(f"{name} codes have shape {shape}, expected ({self.count}, {channels})")

    def attributes(self) -> dict[str, QuantizedAttribute]:
        """The four attributes by name, in storage order."""
        return {name: getattr(self, name) for name in ATTRIBUTES}

    @property
    def bits_per_gaussian(self) -> int:
        """Uncompressed bits per Gaussian (before entropy coding)."""
        return sum(a.bits * a.channels for a in self.attributes().values())


def code_dtype(bits: int) -> type[np.unsignedinteger]:
    """The numpy dtype holding ``bits``-bit codes: uint16 up to 16 bits, else uint32."""
    return np.uint16 if bits <= 16 else np.uint32


def _step(lo: np.ndarray, hi: np.ndarray, bits: int) -> np.ndarray:
    """``(hi − lo) / (2^bits − 1)``, each operation rounded to float32."""
    return (hi - lo) / np.float32((1 << bits) - 1)


def dequantize_attribute(attribute: QuantizedAttribute) -> np.ndarray:
    """``[N, C]`` float32 ``lo + float32(code)·step`` (two float32 roundings: product, then sum)."""
    product = attribute.codes.astype(np.float32) * attribute.step
    return attribute.lo + product


def dequantize(q: QuantizedGaussians) -> Gaussians:
    """Rebuild float32 CPU Gaussians from their codes, bit-exactly as ``formats/g2d.md`` specifies."""
    import torch

    from ..gaussians import Gaussians

    values = {name: dequantize_attribute(a) for name, a in q.attributes().items()}
    values["scale"] = exp_float32(values["scale"])
    values["rotation"] = values["rotation"][:, 0]
    values["color"] = stored_to_rgb(values["color"])
    return Gaussians(**{name: torch.from_numpy(np.ascontiguousarray(v)) for name, v in values.items()})


_INV_SQRT3 = np.float32(1 / math.sqrt(3))
_INV_SQRT2 = np.float32(1 / math.sqrt(2))
_INV_SQRT6 = np.float32(1 / math.sqrt(6))
_TWO_INV_SQRT6 = np.float32(2 / math.sqrt(6))


def rgb_to_stored(rgb: np.ndarray) -> np.ndarray:
    """``[N, 3]`` float64 RGB → the stored colour channels ``(Y, C1, C2)``, in float64."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    return np.stack([(r + g + b) / math.sqrt(3), (r - b) / math.sqrt(2), (r - 2 * g + b) / math.sqrt(6)], axis=1)


def stored_to_rgb(v: np.ndarray) -> np.ndarray:
    """``[N, 3]`` float32 ``(Y, C1, C2)`` → float32 RGB, each operation rounded to float32 in the order of
    ``formats/g2d.md`` §8: ``t = a·Y, u = b·C1, w = c·C2; R = (t + u) + w, G = t − d·C2, B = (t − u) + w``."""
    y, c1, c2 = (np.ascontiguousarray(v[:, i], dtype=np.float32) for i in range(3))
    t, u, w = _INV_SQRT3 * y, _INV_SQRT2 * c1, _INV_SQRT6 * c2
    return np.stack([(t + u) + w, t - _TWO_INV_SQRT6 * c2, (t - u) + w], axis=1)


def exp_float32(v: np.ndarray) -> np.ndarray:
    """``e^v`` correctly rounded (to nearest, ties to even) to float32, for float32 ``v`` in ``[−80, 80]``.

    The float64 ``exp`` decides every case but those within 2^-40 (relative) of a float32 rounding midpoint,
    which are settled with 50-digit decimal arithmetic (``Decimal.exp`` is correctly rounded).
    """
    wide = np.exp(v.astype(np.float64))
    out = wide.astype(np.float32)
    up = np.nextafter(out, np.float32(np.inf)).astype(np.float64)
    down = np.nextafter(out, np.float32(-np.inf)).astype(np.float64)
    exact = out.astype(np.float64)
    distance = np.minimum(np.abs(wide - (exact + up) / 2), np.abs(wide - (exact + down) / 2))
    context = Context(prec=50)
    for index in zip(*np.nonzero(distance <= wide * 2.0**-40)):
        true = Decimal(float(v[index])).exp(context)
        if true > (Decimal(float(exact[index])) + Decimal(float(up[index]))) / 2:
            out[index] = np.float32(up[index])
        elif true < (Decimal(float(exact[index])) + Decimal(float(down[index]))) / 2:
            out[index] = np.float32(down[index])
    return out


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
    step = _step(lo, hi, bits)
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
    if sort and len(g) > 1:
        xy = attributes["xy"].codes.astype(np.int64)
        order = np.lexsort((xy[:, 0], xy[:, 1]))  # primary key y, then x; stable
        attributes = {
            name: QuantizedAttribute(a.bits, a.lo, a.hi, np.ascontiguousarray(a.codes[order]))
            for name, a in attributes.items()
        }
    return QuantizedGaussians(height, width, len(g), **attributes)
