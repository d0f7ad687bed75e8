"""The stored representation: quantized Gaussians, exactly as a `.g2d` file holds them, and their dequantization.

```
attribute    quantized value v          channels   range [lo, hi] (float32, stored in the file)
xy           x, y (normalized)          2          min/max of each axis
scale        ln(std in px)              2          min/max of each axis, in the log domain
rotation     θ mod π  (in [0, π))       1          min/max of θ mod π (θ and θ+π draw the same Gaussian)
color        Y, C1, C2 (orthonormal)    3          min of each channel; one common step (widest range)
```
Code ``k`` of a channel with ``B`` bits stands for ``lo + k·step``, ``step = (hi − lo)/(2^B − 1)``, evaluated in
float32 in exactly the order ``formats/g2d.md`` §8 writes down, so any decoder reproduces ``dequantize_arrays``
bit for bit (the scale's ``exp`` is correctly rounded to float32; the colour transform is evaluated operation
by operation in float32).

Colours are stored decorrelated, ``Y = (R+G+B)/√3``, ``C1 = (R−B)/√2``, ``C2 = (R−2G+B)/√6``: the transform is
orthonormal, so a rounding error costs the same squared RGB error in any channel and all three share one step.

This module sits below both the encoder (which makes codes) and the container (which stores them); it needs
numpy only, so decoding never imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from decimal import Context, Decimal

import numpy as np

__all__ = [
    "ATTRIBUTES",
    "LOG_SCALE_LIMIT",
    "MAX_BITS",
    "VALUE_LIMIT",
    "BitDepths",
    "QuantizedAttribute",
    "QuantizedGaussians",
    "code_dtype",
    "dequantize_arrays",
    "dequantize_attribute",
    "exp_float32",
    "grid_step",
    "range_limit",
    "resize_arrays",
    "rgb_to_stored",
    "stored_to_rgb",
]

MAX_BITS = 24
"""Largest bit depth of a channel (codes up to 2^24 − 1 are exact in float32)."""
ATTRIBUTES: dict[str, int] = {"xy": 2, "scale": 2, "rotation": 1, "color": 3}
"""Attribute name → channel count, in storage order."""
VALUE_LIMIT = 2.0**20
"""Every range endpoint lies in ``[−VALUE_LIMIT, VALUE_LIMIT]`` (so ``hi − lo`` and every value are finite)."""
LOG_SCALE_LIMIT = 20.0
"""Scale ranges (natural log of the std) lie in ``[−20, 20]``: ``s²`` and ``det Σ`` stay finite in float32."""


def range_limit(attribute: str) -> float:
    """The largest allowed ``|lo|``/``|hi|`` of ``attribute``'s range (``formats/g2d.md`` §13)."""
    return LOG_SCALE_LIMIT if attribute == "scale" else VALUE_LIMIT


@dataclass(frozen=True)
class BitDepths:
    """Bits per channel of each attribute (1 to ``MAX_BITS``).

    The class defaults are conservative; the encoder chooses its own (``encoder.quantize.encoder_bit_depths``).
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


def code_dtype(bits: int) -> type[np.unsignedinteger]:
    """The numpy dtype holding ``bits``-bit codes: uint16 up to 16 bits, else uint32."""
    return np.uint16 if bits <= 16 else np.uint32


def grid_step(lo: np.ndarray, hi: np.ndarray, bits: int) -> np.ndarray:
    """``(hi − lo) / (2^bits − 1)``, each operation rounded to float32."""
    return (hi - lo) / np.float32((1 << bits) - 1)


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
        return grid_step(self.lo, self.hi, self.bits)

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

    def take(self, which: np.ndarray) -> QuantizedGaussians:
        """The Gaussians that ``which`` picks (indices, in their order, or a boolean mask), with the same grids."""
        attributes = {
            name: QuantizedAttribute(a.bits, a.lo, a.hi, np.ascontiguousarray(a.codes[which]))
            for name, a in self.attributes().items()
        }
        return QuantizedGaussians(self.height, self.width, len(attributes["xy"].codes), **attributes)

    @property
    def bits_per_gaussian(self) -> int:
        """Uncompressed bits per Gaussian (before entropy coding)."""
        return sum(a.bits * a.channels for a in self.attributes().values())


def dequantize_attribute(attribute: QuantizedAttribute) -> np.ndarray:
    """``[N, C]`` float32 ``lo + float32(code)·step`` (two float32 roundings: product, then sum)."""
    product = attribute.codes.astype(np.float32) * attribute.step
    return attribute.lo + product


def dequantize_arrays(q: QuantizedGaussians) -> dict[str, np.ndarray]:
    """The float32 Gaussians of ``q``, bit-exactly as ``formats/g2d.md`` §8 specifies.

    Returns contiguous arrays ``xy [N, 2]`` (normalized), ``scale [N, 2]`` (std in pixels), ``rotation [N]``
    (radians) and ``color [N, 3]`` (RGB), the fields of ``gaussians.Gaussians``.
    """
    values = {name: dequantize_attribute(a) for name, a in q.attributes().items()}
    values["scale"] = exp_float32(values["scale"])
    values["rotation"] = values["rotation"][:, 0]
    values["color"] = stored_to_rgb(values["color"])
    return {name: np.ascontiguousarray(v) for name, v in values.items()}


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


def resize_arrays(
    values: dict[str, np.ndarray], src_hw: tuple[int, int], dst_hw: tuple[int, int]
) -> dict[str, np.ndarray]:
    """Express Gaussians fitted at ``src_hw`` for rendering at ``dst_hw`` (both ``(H, W)``), in their own dtype.

    Positions are normalized and stay. Each covariance is stretched by ``S = diag(W'/W, H'/H)`` (``formats/g2d.md``
    §10): for a uniform resize that multiplies both standard deviations by ``W'/W``; otherwise ``S·Σ·S`` is
    re-diagonalized.
    """
    sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
    if math.isclose(sx, sy, rel_tol=1e-9):
        return {**values, "scale": values["scale"] * sx}
    cos, sin = np.cos(values["rotation"]), np.sin(values["rotation"])
    s1, s2 = values["scale"][:, 0] ** 2, values["scale"][:, 1] ** 2
    cxx = (s1 * cos**2 + s2 * sin**2) * sx * sx
    cyy = (s1 * sin**2 + s2 * cos**2) * sy * sy
    cxy = (s2 - s1) * sin * cos * sx * sy
    # Axis 1 of the renderer's rotation is (cos θ, −sin θ): recover θ and the two variances from S·Σ·S.
    theta = 0.5 * np.arctan2(-2 * cxy, cxx - cyy)
    c, s = np.cos(theta), np.sin(theta)
    var1 = cxx * c**2 - 2 * cxy * c * s + cyy * s**2
    var2 = cxx * s**2 + 2 * cxy * c * s + cyy * c**2
    scale = np.stack([np.sqrt(np.maximum(var1, 0)), np.sqrt(np.maximum(var2, 0))], axis=1)
    return {**values, "scale": scale, "rotation": theta}
