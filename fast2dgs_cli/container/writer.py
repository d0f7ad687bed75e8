"""Write `.g2d` v2 files: header, ``meta`` (if any), the four attribute chunks, ``GEND``."""

from __future__ import annotations

from ..representation import QuantizedGaussians, range_limit
from .format import (
    ATTRIBUTE_CHUNKS,
    CHUNK_HEAD,
    CONTAINER_VERSION,
    END_CHUNK,
    HEADER,
    MAGIC,
    MAX_GAUSSIANS,
    MAX_HEIGHT,
    MAX_WIDTH,
    META_CHUNK,
    crc32,
)
from .metadata import encode_metadata
from .streams import encode_attribute

__all__ = ["write_chunk", "write_g2d", "write_header"]


def write_header(width: int, height: int, count: int, version: tuple[int, int] = CONTAINER_VERSION) -> bytes:
    """Magic, the fixed header fields and their CRC-32 (28 bytes). No checks: see ``write_g2d``."""
    fields = HEADER.pack(version[0], version[1], 0, width, height, count)
    return MAGIC + fields + crc32(fields).to_bytes(4, "little")


def write_chunk(chunk_type: str, data: bytes) -> bytes:
    """One chunk: length, type, data, CRC-32 of type + data."""
    raw_type = chunk_type.encode("ascii")
    return CHUNK_HEAD.pack(len(data), raw_type) + data + crc32(raw_type, data).to_bytes(4, "little")


def write_g2d(q: QuantizedGaussians, metadata: dict[str, str] | None = None) -> bytes:
    """Serialize quantized Gaussians (and optional UTF-8 metadata) to `.g2d` bytes.

    The same input always gives the same bytes.

    Raises:
        ValueError: when ``q`` exceeds the format's limits (size, count, ranges) or a metadata key is invalid.
    """
    if not (1 <= q.width <= MAX_WIDTH and 1 <= q.height <= MAX_HEIGHT):
        raise ValueError(f"{q.width}x{q.height} is outside the format's 1..{MAX_WIDTH} x 1..{MAX_HEIGHT}")
    if q.count > MAX_GAUSSIANS:
        raise ValueError(f"{q.count} Gaussians exceed the format's limit of {MAX_GAUSSIANS}")
    for name, attribute in q.attributes().items():
        limit = range_limit(name)
        if not all(-limit <= lo <= hi <= limit for lo, hi in zip(attribute.lo, attribute.hi)):
            raise ValueError(f"{name} ranges must be ordered and within ±{limit:g}")
    parts = [write_header(q.width, q.height, q.count)]
    if metadata:
        parts.append(write_chunk(META_CHUNK, encode_metadata(metadata)))
    for name, chunk_type in ATTRIBUTE_CHUNKS.items():
        parts.append(write_chunk(chunk_type, encode_attribute(getattr(q, name))))
    parts.append(write_chunk(END_CHUNK, b""))
    return b"".join(parts)
