"""Read `.g2d` v2 files. Every byte is untrusted: any defect raises ``G2DError`` naming the part and offset.

Checks run in file order and before any allocation that depends on a declared size: magic, version, header
CRC, flags and limits; then per chunk its length against the bytes left, its type, its CRC, its payload
(zstd sizes checked against the header before decompressing); then chunk multiplicity and trailing bytes.
"""

from __future__ import annotations

from ..representation import ATTRIBUTES, QuantizedAttribute, QuantizedGaussians
from .format import (
    ATTRIBUTE_CHUNKS,
    CHUNK_HEAD,
    CONTAINER_VERSION,
    END_CHUNK,
    HEADER,
    HEADER_END,
    MAGIC,
    MAX_GAUSSIANS,
    MAX_HEIGHT,
    MAX_WIDTH,
    META_CHUNK,
    ChunkInfo,
    G2DError,
    G2DFile,
    crc32,
    is_critical,
)
from .metadata import decode_metadata
from .streams import decode_attribute, raw_size

__all__ = ["accept", "read_g2d", "read_header"]

SUPPORTED_MAJOR = CONTAINER_VERSION[0]
_CHUNK_OVERHEAD = CHUNK_HEAD.size + 4
_CHUNK_OF = {chunk: name for name, chunk in ATTRIBUTE_CHUNKS.items()}


def accept(prefix: bytes) -> bool:
    """Whether ``prefix`` (the first bytes of a file) starts like a `.g2d` file."""
    return prefix[:8] == MAGIC


def _read_header(data: bytes) -> tuple[tuple[int, int], int, int, int]:
    """Check magic and header; return ``(version, width, height, count)``."""
    if data[:8] != MAGIC[: len(data[:8])]:
        damaged = data[1:4] == MAGIC[1:4]
        raise G2DError("magic", 0, "damaged magic (text-mode transfer?)" if damaged else "not a .g2d file")
    if len(data) < HEADER_END:
        raise G2DError("header", min(len(data), 8), f"file ends after {len(data)} bytes, header needs {HEADER_END}")
    major, minor, flags, width, height, count = HEADER.unpack_from(data, 8)
    if major != SUPPORTED_MAJOR:
        raise G2DError("header", 8, f"unsupported .g2d version {major}.{minor} (this reader reads {SUPPORTED_MAJOR}.x)")
    if crc32(data[8:24]) != int.from_bytes(data[24:28], "little"):
        raise G2DError("header", 24, "header CRC mismatch")
    if flags:
        raise G2DError("header", 10, f"reserved flag bits set (0x{flags:04x})")
    if not 1 <= width <= MAX_WIDTH:
        raise G2DError("header", 12, f"width {width} is outside 1..{MAX_WIDTH}")
    if not 1 <= height <= MAX_HEIGHT:
        raise G2DError("header", 16, f"height {height} is outside 1..{MAX_HEIGHT}")
    if count > MAX_GAUSSIANS:
        raise G2DError("header", 20, f"{count} Gaussians exceed the limit of {MAX_GAUSSIANS}")
    return (major, minor), width, height, count


def read_header(data: bytes) -> tuple[int, int, int]:
    """Check only the magic and the fixed header: ``(width, height, count)``, before any decompression."""
    _, width, height, count = _read_header(bytes(data[:HEADER_END]))
    return width, height, count


def _next_chunk(data: bytes, at: int) -> tuple[str, bytes]:
    """Frame and verify the chunk at ``at``; return its type and data."""
    if len(data) - at < _CHUNK_OVERHEAD:
        raise G2DError("chunk", at, f"file ends inside a chunk header ({len(data) - at} bytes left, no {END_CHUNK})")
    length, raw_type = CHUNK_HEAD.unpack_from(data, at)
    if not (raw_type.isascii() and raw_type.isalpha()):
        raise G2DError("chunk", at + 4, f"chunk type {raw_type!r} is not 4 ASCII letters")
    chunk_type = raw_type.decode("ascii")
    if length > len(data) - at - _CHUNK_OVERHEAD:
        raise G2DError(chunk_type, at, f"declares {length} data bytes, only {len(data) - at - _CHUNK_OVERHEAD} remain")
    end = at + CHUNK_HEAD.size + length
    body = data[at + CHUNK_HEAD.size : end]
    if crc32(raw_type, body) != int.from_bytes(data[end : end + 4], "little"):
        raise G2DError(chunk_type, end, "CRC mismatch")
    return chunk_type, body


def read_g2d(data: bytes) -> G2DFile:
    """Parse and validate a whole `.g2d` file.

    Raises:
        G2DError: for anything but a well-formed v2.x file within the format's limits.
    """
    data = bytes(data)
    version, width, height, count = _read_header(data)
    attributes: dict[str, QuantizedAttribute] = {}
    metadata: dict[str, str] | None = None
    chunks: list[ChunkInfo] = []
    at = HEADER_END
    while True:
        chunk_type, body = _next_chunk(data, at)
        body_at, raw = at + CHUNK_HEAD.size, len(body)
        if chunk_type in _CHUNK_OF:
            name = _CHUNK_OF[chunk_type]
            if name in attributes:
                raise G2DError(chunk_type, at, "duplicate chunk")
            attributes[name] = attribute = decode_attribute(body, chunk_type, body_at, count, ATTRIBUTES[name], name)
            raw = raw_size(count, attribute.channels, attribute.bits)
        elif chunk_type == META_CHUNK:
            if metadata is not None:
                raise G2DError(chunk_type, at, "duplicate chunk")
            metadata = decode_metadata(body, body_at)
        elif chunk_type == END_CHUNK:
            if body:
                raise G2DError(chunk_type, at, f"{END_CHUNK} must be empty, has {len(body)} bytes")
        elif is_critical(chunk_type):
            raise G2DError(chunk_type, at, "unknown critical chunk")
        chunks.append(ChunkInfo(chunk_type, at, len(body), raw))
        at += _CHUNK_OVERHEAD + len(body)
        if chunk_type == END_CHUNK:
            break
    missing = [chunk for name, chunk in ATTRIBUTE_CHUNKS.items() if name not in attributes]
    if missing:
        raise G2DError(END_CHUNK, chunks[-1].offset, f"missing critical chunk(s) {', '.join(missing)}")
    if at != len(data):
        raise G2DError(END_CHUNK, at, f"{len(data) - at} trailing bytes after {END_CHUNK}")
    gaussians = QuantizedGaussians(height, width, count, **attributes)
    return G2DFile(gaussians, metadata or {}, version, chunks, len(data))
