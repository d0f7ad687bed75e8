"""Human-readable summary of a `.g2d` file (what ``f2dgs info`` prints; lines stay under 80 columns)."""

from __future__ import annotations

from .format import ATTRIBUTE_CHUNKS, CHUNK_HEAD, META_CHUNK
from .reader import read_g2d

__all__ = ["describe"]

CHUNK_OVERHEAD = CHUNK_HEAD.size + 4
"""Bytes a chunk adds around its data: length and type before, CRC-32 after."""


def describe(data: bytes) -> str:
    """Describe a `.g2d` file: header, every chunk's size, bit depths and ranges, metadata.

    ``bits/G`` is what each attribute costs per Gaussian in the file: its whole chunk (framing included), in
    bits, over the Gaussian count.

    Raises:
        G2DError: if the file is malformed.
    """
    file = read_g2d(data)
    q = file.gaussians
    per_gaussian = f"{8 * file.size / q.count:.1f} bits/Gaussian" if q.count else "no Gaussians"
    lines = [
        f".g2d {file.version[0]}.{file.version[1]}: {q.width}x{q.height} reference size, {q.count} Gaussians",
        f"file: {file.size} bytes, {per_gaussian}, {8 * file.size / (q.width * q.height):.4f} bpp",
        "",
        f"{'chunk':6} {'offset':>8} {'stored':>8} {'raw':>8} {'bits/G':>7}  content",
    ]
    content = {chunk: name for name, chunk in ATTRIBUTE_CHUNKS.items()}
    for chunk in file.chunks:
        if chunk.type in content:
            attribute = getattr(q, content[chunk.type])
            detail = f"{content[chunk.type]}, {attribute.channels} x {attribute.bits} bits"
        elif chunk.critical:
            detail = "end"
        else:
            detail = "metadata" if chunk.type == META_CHUNK else "unknown ancillary (skipped)"
        per_gaussian_bits = ""
        if chunk.type in content and q.count:
            per_gaussian_bits = f"{8 * (chunk.stored_size + CHUNK_OVERHEAD) / q.count:.2f}"
        sizes = f"{chunk.offset:>8} {chunk.stored_size:>8} {chunk.raw_size:>8} {per_gaussian_bits:>7}"
        lines.append(f"{chunk.type:6} {sizes}  {detail}")
    lines += ["", "ranges [lo, hi] per channel (scale: ln std in px; color: Y, C1, C2)"]
    for name, attribute in q.attributes().items():
        ranges = " ".join(f"[{lo:.5g}, {hi:.5g}]" for lo, hi in zip(attribute.lo, attribute.hi))
        lines.append(f"  {name:9} {ranges}")
    if file.metadata:
        lines += ["", "metadata"]
        lines.extend(f"  {key}: {value}" for key, value in file.metadata.items())
    return "\n".join(lines)
