"""Generate the `.g2d` conformance files and ``expected.json`` (run from anywhere: ``python make_conformance.py``).

The Gaussians' codes come from a 32-bit linear congruential generator, so the files do not depend on any
library's random numbers. For each valid file, ``expected.json`` holds its header values, the SHA-256 of its
dequantized attributes (float32 little-endian: xy, scale, rotation, colour, each ``[N, C]`` row-major), and the
SHA-256 of its decoded 8-bit RGB image (``formats/g2d.md`` §11). A scene is used only if that image
is *stable*: unchanged when every dequantized value is nudged by a few float32 ulps, and with every pixel value
at least ``MARGIN`` (in 8-bit units) away from a rounding boundary, so decoders whose ``cos``/``sin``/``exp``
differ in the last bit still agree. Invalid files carry the reason a reader must reject them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fast2dgs_cli.container import write_g2d
from fast2dgs_cli.container.format import CONTAINER_VERSION
from fast2dgs_cli.container.writer import write_chunk, write_header
from fast2dgs_cli.gaussians import Gaussians, dequantize
from fast2dgs_cli.render import render
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


def to_rgb8(image: Tensor) -> bytes:
    """The 8-bit RGB image of ``formats/g2d.md``: ``round_half_even(255·clamp(x, 0, 1))``, row-major, RGB."""
    image = torch.nan_to_num(image.detach().cpu().float(), nan=0.0)
    return torch.round(image.clamp(0.0, 1.0) * 255.0).to(torch.uint8).contiguous().numpy().tobytes()


def decode(g: Gaussians, height: int, width: int) -> Tensor:
    with torch.no_grad():
        return render(g, height, width, backend="torch")


def rounding_margin(image: Tensor) -> float:
    """Smallest distance of ``255·clamp(x)`` from a boundary ``k + ½``."""
    scaled = image.clamp(0.0, 1.0).double() * 255.0
    return float((scaled - torch.floor(scaled) - 0.5).abs().min())


def is_stable(q: QuantizedGaussians) -> bool:
    """Whether the 8-bit image has a safe rounding margin and survives ulp-sized nudges of every value."""
    g = dequantize(q)
    image = decode(g, q.height, q.width)
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
        if to_rgb8(decode(Gaussians(**nudged), q.height, q.width)) != reference:
            return False
    return True


def first_stable(height: int, width: int, count: int, bits: dict[str, int]) -> tuple[int, QuantizedGaussians]:
    for seed in range(1, 20000):
        q = scene(seed, height, width, count, bits)
        if is_stable(q):
            return seed, q
    raise RuntimeError("no stable scene found")


def chunks_of(data: bytes) -> list[tuple[str, bytes]]:
    """(type, data) of every chunk of a file written by ``write_g2d``."""
    found, at = [], 28
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "little")
        found.append((data[at + 4 : at + 8].decode("ascii"), data[at + 8 : at + 8 + length]))
        at += 12 + length
    return found


def valid_entry(description: str, data: bytes, q: QuantizedGaussians, metadata: dict[str, str]) -> dict:
    g = dequantize(q)
    attributes = b"".join(getattr(g, n).numpy().astype("<f4").tobytes() for n in ("xy", "scale", "rotation", "color"))
    image = decode(g, q.height, q.width)
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
        "format": ".g2d 1.0 (formats/g2d.md)",
        "decoded_image": "render(dequantize(file), height, width) as 8-bit RGB, row-major (formats/g2d.md §11)",
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
