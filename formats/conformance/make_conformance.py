"""Generate the `.g2d` conformance files and ``expected.json`` (run from anywhere: ``python make_conformance.py``).

The Gaussians' codes come from a 32-bit linear congruential generator, so the files do not depend on any
library's random numbers. For each valid file, ``expected.json`` holds its header values, the SHA-256 of its
dequantized attributes (float32 little-endian: xy, scale, rotation, colour, each ``[N, C]`` row-major), and the
SHA-256 of its decoded 8-bit RGB image (``formats/g2d.md`` §11), and for a file that pins a rule of rendering at
another size, the same at twice the size (``renders``). A scene is used only if each of its images is *stable*:
unchanged when every dequantized value is nudged by a few float32 ulps, and with every pixel value at least
``MARGIN`` (in 8-bit units) away from a rounding boundary, so decoders whose ``cos``/``sin``/``exp`` differ in the
last bit still agree. Invalid files carry the reason a reader must reject them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fast2dgs_cli.container import write_g2d
from fast2dgs_cli.container.format import ATTRIBUTE_CHUNKS, CONTAINER_VERSION
from fast2dgs_cli.container.streams import FILTER_DELTA, encode_attribute
from fast2dgs_cli.container.writer import write_chunk, write_header
from fast2dgs_cli.gaussians import Gaussians, dequantize
from fast2dgs_cli.render import project, render
from fast2dgs_cli.representation import QuantizedAttribute, QuantizedGaussians, code_dtype

HERE = Path(__file__).resolve().parent
MARGIN = 1e-3
"""Smallest allowed distance of ``255·clamp(x)`` from a rounding boundary ``k + ½``."""
RANGES = {  # attribute → per-channel (lo, hi), as float32
    "xy": [(-0.05, 1.05), (-0.05, 1.05)],
    "scale": [(math.log(0.6), math.log(9.0)), (math.log(0.6), math.log(9.0))],
    "rotation": [(0.0, 3.14)],
    "color": [(0.0, 1.7), (-0.5, 0.5), (-0.45, 0.45)],  # (Y, C1, C2)
}
HUGE_LN_S = 20.0
"""ln of the std (px) of the Gaussian that pins §10.1's bound on r: GSCL's limit, so ``3·sqrt(λ)`` is about 1.46e9
at the stored size (r in range) and 2.9e9 ≥ 2³¹ at twice the size (culled)."""


def lcg(seed: int) -> Iterator[int]:
    """32-bit linear congruential generator (multiplier 1664525, increment 1013904223)."""
    state = seed & 0xFFFFFFFF
    while True:
        state = (1664525 * state + 1013904223) & 0xFFFFFFFF
        yield state


def scene(seed: int, height: int, width: int, count: int, bits: dict[str, int]) -> QuantizedGaussians:
    """``count`` Gaussians with LCG codes, stored in raster order of their centres (y, then x)."""
    numbers = lcg(seed)
    attributes = {}
    for name, ranges in RANGES.items():
        b = bits[name]
        codes = np.array([[next(numbers) >> (32 - b) for _ in ranges] for _ in range(count)], dtype=np.int64)
        lo = np.array([r[0] for r in ranges], np.float32)
        hi = np.array([r[1] for r in ranges], np.float32)
        attributes[name] = QuantizedAttribute(b, lo, hi, codes.reshape(count, len(ranges)).astype(code_dtype(b)))
    order = np.lexsort((attributes["xy"].codes[:, 0], attributes["xy"].codes[:, 1]))
    attributes = {n: QuantizedAttribute(a.bits, a.lo, a.hi, a.codes[order]) for n, a in attributes.items()}
    return QuantizedGaussians(height, width, count, **attributes)


def with_huge_gaussian(q: QuantizedGaussians, seed: int) -> QuantizedGaussians:
    """``q`` plus one isotropic Gaussian of std ``e^HUGE_LN_S`` px (weight 1 at every pixel), its other codes from
    the LCG, re-sorted by centre; the scale grid becomes ``[lo, HUGE_LN_S]``, the others' codes the nearest on it."""
    numbers = lcg(seed ^ 0x5EED)
    extra = {n: [next(numbers) >> (32 - getattr(q, n).bits) for _ in RANGES[n]] for n in ("xy", "rotation", "color")}
    old = q.scale
    hi = np.full(old.channels, HUGE_LN_S, np.float32)
    grown = QuantizedAttribute(old.bits, old.lo, hi, old.codes)
    top = (1 << old.bits) - 1
    moved = np.rint(old.codes * (old.step.astype(np.float64) / grown.step.astype(np.float64)))
    extra["scale"] = [top] * old.channels
    attributes = {n: getattr(q, n) for n in ("xy", "rotation", "color")}
    attributes["scale"] = QuantizedAttribute(old.bits, old.lo, hi, np.clip(moved, 0, top).astype(old.codes.dtype))
    attributes = {
        n: QuantizedAttribute(a.bits, a.lo, a.hi, np.vstack([a.codes, np.array([extra[n]], a.codes.dtype)]))
        for n, a in attributes.items()
    }
    order = np.lexsort((attributes["xy"].codes[:, 0], attributes["xy"].codes[:, 1]))
    attributes = {n: QuantizedAttribute(a.bits, a.lo, a.hi, a.codes[order]) for n, a in attributes.items()}
    return QuantizedGaussians(q.height, q.width, q.count + 1, **attributes)


def to_rgb8(image: Tensor) -> bytes:
    """The 8-bit RGB image of ``formats/g2d.md``: ``round_half_even(255·clamp(x, 0, 1))``, row-major, RGB."""
    image = torch.nan_to_num(image.detach().cpu().float(), nan=0.0)
    return torch.round(image.clamp(0.0, 1.0) * 255.0).to(torch.uint8).contiguous().numpy().tobytes()


def decode(g: Gaussians, height: int, width: int, factor: int = 1) -> Tensor:
    """The reference render of ``g`` (fitted at ``height × width``) at ``factor`` times that size (§10.5)."""
    size = (height * factor, width * factor)
    if factor != 1:
        g = g.resized((height, width), size)
    with torch.no_grad():
        return render(g, *size, backend="torch")


def rounding_margin(image: Tensor) -> float:
    """Smallest distance of ``255·clamp(x)`` from a boundary ``k + ½``."""
    scaled = image.clamp(0.0, 1.0).double() * 255.0
    return float((scaled - torch.floor(scaled) - 0.5).abs().min())


def is_stable(q: QuantizedGaussians, factors: tuple[int, ...] = (1,)) -> bool:
    """Whether the 8-bit image at each size factor has a safe rounding margin and survives ulp-sized nudges."""
    return all(_is_stable_at(q, factor) for factor in factors)


def _is_stable_at(q: QuantizedGaussians, factor: int) -> bool:
    g = dequantize(q)
    image = decode(g, q.height, q.width, factor)
    if rounding_margin(image) < MARGIN:
        return False
    reference = to_rgb8(image)
    rng = np.random.default_rng(0)
    for _ in range(6):
        nudged = {}
        for name in ("xy", "scale", "rotation", "color"):
            value = getattr(g, name).numpy().copy()
            for _ in range(int(rng.integers(1, 4))):
                direction = np.where(rng.random(value.shape) < 0.5, -np.inf, np.inf).astype(np.float32)
                value = np.nextafter(value, direction)
            nudged[name] = torch.from_numpy(value)
        if to_rgb8(decode(Gaussians(**nudged), q.height, q.width, factor)) != reference:
            return False
    return True


def first_stable(
    height: int,
    width: int,
    count: int,
    bits: dict[str, int],
    extend: Callable[[QuantizedGaussians, int], QuantizedGaussians] | None = None,
    factors: tuple[int, ...] = (1,),
) -> tuple[int, QuantizedGaussians]:
    """The first seed's scene (passed through ``extend``) that is stable at every size factor."""
    for seed in range(1, 20000):
        q = scene(seed, height, width, count, bits)
        q = extend(q, seed) if extend else q
        if is_stable(q, factors):
            return seed, q
    raise RuntimeError("no stable scene found")


def check_radius_bound(q: QuantizedGaussians) -> None:
    """The huge Gaussian is drawn at the stored size, culled at twice it by the bound on r alone (§10.1), and a
    decoder that drew it anyway would get another picture."""
    g = dequantize(q)
    huge = int(np.argmax(g.scale[:, 0].numpy()))
    double = g.resized((q.height, q.width), (2 * q.height, 2 * q.width))
    for gaussians, factor in ((g, 1), (double, 2)):
        s1, s2 = gaussians.scale[huge].numpy()
        theta = gaussians.rotation[huge : huge + 1]
        c, s = torch.cos(theta).numpy()[0], torch.sin(theta).numpy()[0]
        v1, v2 = s1 * s1, s2 * s2
        sxx, syy, sxy = v1 * c * c + v2 * s * s, v1 * s * s + v2 * c * c, (v2 - v1) * s * c
        det = sxx * syy - sxy * sxy
        b = np.float32(0.5) * (sxx + syy)
        extent = np.float32(3.0) * np.sqrt(b + np.sqrt(max(b * b - det, np.float32(0.1))))
        radius = int(project(gaussians, factor * q.height, factor * q.width).radii[huge])
        stored = factor == 1
        if not (det != 0 and np.isfinite(det) and (extent < 2.0**31) == stored and (radius > 0) == stored):
            raise RuntimeError(f"the huge Gaussian does not pin the bound on r at x{factor}: 3·sqrt(λ) = {extent}")
    drawn = double.scale.clone()
    drawn[huge] = g.scale[huge]  # std e^20 at x2: r in range and still weight 1 everywhere, as if drawn
    wide = Gaussians(double.xy, drawn, double.rotation, double.color)
    with torch.no_grad():
        drawn_picture = to_rgb8(render(wide, 2 * q.height, 2 * q.width, backend="torch"))
        if drawn_picture == to_rgb8(decode(g, q.height, q.width, 2)):
            raise RuntimeError("drawing the huge Gaussian at x2 would not change the picture")


def chunks_of(data: bytes) -> list[tuple[str, bytes]]:
    """(type, data) of every chunk of a file written by ``write_g2d``."""
    found, at = [], 28
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "little")
        found.append((data[at + 4 : at + 8].decode("ascii"), data[at + 8 : at + 8 + length]))
        at += 12 + length
    return found


def valid_entry(
    description: str, data: bytes, q: QuantizedGaussians, metadata: dict[str, str], factors: tuple[int, ...] = (1,)
) -> dict:
    g = dequantize(q)
    attributes = b"".join(getattr(g, n).numpy().astype("<f4").tobytes() for n in ("xy", "scale", "rotation", "color"))
    image = decode(g, q.height, q.width)
    renders = []
    for factor in factors[1:]:
        other = decode(g, q.height, q.width, factor)
        size = {"factor": factor, "width": factor * q.width, "height": factor * q.height}
        renders.append({**size, "rgb8_sha256": hashlib.sha256(to_rgb8(other)).hexdigest(),
                        "rounding_margin": round(rounding_margin(other), 4)})  # fmt: skip
    return {
        "valid": True,
        "description": description,
        "file_sha256": hashlib.sha256(data).hexdigest(),
        "version": list(CONTAINER_VERSION),
        "width": q.width,
        "height": q.height,
        "count": q.count,
        "bits": {name: a.bits for name, a in q.attributes().items()},
        "metadata": metadata,
        "dequantized_sha256": hashlib.sha256(attributes).hexdigest(),
        "rgb8_sha256": hashlib.sha256(to_rgb8(image)).hexdigest(),
        "rounding_margin": round(rounding_margin(image), 4),
        **({"renders": renders} if renders else {}),
    }


def build() -> dict[str, tuple[bytes, dict]]:
    """Every conformance file: name → (bytes, expected.json entry)."""
    files: dict[str, tuple[bytes, dict]] = {}
    default = {"xy": 16, "scale": 10, "rotation": 9, "color": 8}
    odd = {"xy": 20, "scale": 7, "rotation": 12, "color": 5}

    seed, one = first_stable(16, 16, 1, default)
    data = write_g2d(one)
    files["valid-1-gaussian-16x16.g2d"] = (data, valid_entry("one Gaussian, one tile, no metadata", data, one, {}))

    seed, forty = first_stable(23, 37, 40, default)
    meta = {"encoder": "make_conformance.py", "seed": str(seed)}
    data = write_g2d(forty, meta)
    files["valid-40-gaussians-37x23.g2d"] = (
        data,
        valid_entry("40 Gaussians, 37x23 (partial edge tiles), delta-filtered y, metadata", data, forty, meta),
    )

    seed, odd_q = first_stable(23, 37, 40, odd)
    parts = dict(chunks_of(write_g2d(odd_q)))
    order = [("GROT", parts["GROT"]), ("xtRA", b"an unknown ancillary chunk: skip me"), ("GCOL", parts["GCOL"])]
    order += [("GPOS", parts["GPOS"]), ("GSCL", parts["GSCL"]), ("GEND", b"")]
    data = write_header(37, 23, 40) + b"".join(write_chunk(t, d) for t, d in order)
    description = "bit depths 20/7/12/5 (3-byte codes), chunks out of the usual order, unknown ancillary xtRA"
    files["valid-ancillary-and-odd-bits.g2d"] = (data, valid_entry(description, data, odd_q, {}))

    chunks = [
        (chunk, encode_attribute(a, [FILTER_DELTA] * a.channels))
        for chunk, a in zip(ATTRIBUTE_CHUNKS.values(), forty.attributes().values())
    ]
    data = write_header(37, 23, 40) + b"".join(write_chunk(t, d) for t, d in [*chunks, ("GEND", b"")])
    description = (
        "the scene of valid-40-gaussians-37x23 with every channel delta-filtered: differences wrap modulo 2^(8K)"
    )
    files["valid-delta-wraps.g2d"] = (data, valid_entry(description, data, forty, {}))

    seed, huge = first_stable(12, 16, 11, default, with_huge_gaussian, factors=(1, 2))
    check_radius_bound(huge)
    data = write_g2d(huge)
    description = (
        "11 Gaussians and one of std e^20 px: r in range at 16x12, 3·sqrt(λ) ≥ 2³¹ at 32x24, where it is culled"
    )
    files["valid-radius-bound-x2.g2d"] = (data, valid_entry(description, data, huge, {}, factors=(1, 2)))

    good = files["valid-40-gaussians-37x23.g2d"][0]
    bad_crc = bytearray(good)
    bad_crc[-20] ^= 0x01  # a byte of GCOL's data
    version_3 = bytearray(write_header(37, 23, 40, (CONTAINER_VERSION[0] + 1, 0)) + good[28:])
    body = chunks_of(good)
    unknown = write_header(37, 23, 40) + b"".join(write_chunk(t, d) for t, d in body[:2] + [("XTRA", b"")] + body[2:])
    invalid = {
        "invalid-bad-crc.g2d": (bytes(bad_crc), "CRC mismatch", "one flipped bit in GCOL's data"),
        "invalid-version-3.g2d": (bytes(version_3), "unsupported .g2d version", "major version 3"),
        "invalid-unknown-critical.g2d": (unknown, "unknown critical chunk", "an unknown critical chunk XTRA"),
    }
    for name, (data, error, description) in invalid.items():
        entry = {"valid": False, "description": description, "file_sha256": hashlib.sha256(data).hexdigest()}
        files[name] = (data, {**entry, "error": error})
    return files


def main() -> int:
    files = build()
    expected = {
        "format": f".g2d {CONTAINER_VERSION[0]}.{CONTAINER_VERSION[1]} (formats/g2d.md)",
        "decoded_image": "render(dequantize(file), height, width) as 8-bit RGB, row-major (formats/g2d.md §11)",
        "renders": "the same at factor × the stored size, each std multiplied by the factor (formats/g2d.md §10.5)",
        "files": {name: entry for name, (_, entry) in files.items()},
    }
    for name, (data, _) in files.items():
        (HERE / name).write_bytes(data)
    text = json.dumps(expected, indent=2, ensure_ascii=False)
    text = re.sub(r"\[\s+(\d+),\s+(\d+)\s+\]", r"[\1, \2]", text)  # "version": [1, 0] on one line
    (HERE / "expected.json").write_text(text + "\n")
    print(f"wrote {len(files)} files and expected.json to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
