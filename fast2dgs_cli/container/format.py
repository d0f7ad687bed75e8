"""Constants and types of the `.g2d` v2 container (the byte-level spec is ``formats/g2d.md``).

```
offset  size  field
0       8     magic 8F 47 32 44 0D 0A 1A 0A  ("\\x8FG2D\\r\\n\\x1A\\n")
8       1     major version (2)
9       1     minor version (0)
10      2     flags (all bits reserved: 0)
12      4     reference width
16      4     reference height
20      4     Gaussian count N
24      4     CRC-32 of bytes 8..23
28      …     chunks: length u32 | type 4 letters | data | CRC-32 of type+data; the last is GEND
```
Every integer is little-endian. A chunk whose type starts with an upper-case letter is critical (an unknown one
is an error), lower-case is ancillary (an unknown one is skipped).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ..errors import F2dgsError
from ..representation import QuantizedGaussians

__all__ = [
    "ATTRIBUTE_CHUNKS",
    "CONTAINER_VERSION",
    "ChunkInfo",
    "END_CHUNK",
    "G2DError",
    "G2DFile",
    "HEADER",
    "MAGIC",
    "MAX_GAUSSIANS",
    "MAX_HEIGHT",
    "MAX_WIDTH",
    "META_CHUNK",
    "ZSTD_LEVEL",
    "crc32",
    "is_critical",
]

MAGIC = b"\x8fG2D\r\n\x1a\n"
"""The 8 bytes every `.g2d` file starts with (non-ASCII first byte, then CR LF, EOF, LF to catch text-mode damage)."""
CONTAINER_VERSION = (2, 0)
"""(major, minor) written by this package. Readers accept any minor of their major."""
MAX_WIDTH = 16384
"""Largest reference width in pixels."""
MAX_HEIGHT = 16384
"""Largest reference height in pixels."""
MAX_GAUSSIANS = 1 << 22
"""Largest Gaussian count (4 Mi)."""
ZSTD_LEVEL = 19
"""zstandard level of the attribute streams (decoding speed does not depend on it)."""

HEADER = struct.Struct("<BBHIII")
"""major, minor, flags, width, height, count: bytes 8..23, followed by their CRC-32."""
HEADER_END = len(MAGIC) + HEADER.size + 4
"""Offset of the first chunk (28)."""
CHUNK_HEAD = struct.Struct("<I4s")
"""A chunk's data length and type."""

ATTRIBUTE_CHUNKS: dict[str, str] = {"xy": "GPOS", "scale": "GSCL", "rotation": "GROT", "color": "GCOL"}
"""Attribute name → its critical chunk type, in writing order."""
META_CHUNK = "meta"
"""Ancillary key/value metadata chunk."""
END_CHUNK = "GEND"
"""Critical, empty, last chunk."""


class G2DError(F2dgsError, ValueError):
    """A malformed, truncated, corrupt or unsupported `.g2d` file. The message names the part and byte offset.

    Attributes:
        part: the chunk type (e.g. ``"GPOS"``), or ``"magic"``/``"header"``/``"chunk"``.
        offset: the byte offset in the file where the problem was found.
        problem: what is wrong, without the location.
    """

    def __init__(self, part: str, offset: int, problem: str) -> None:
        super().__init__(f"{part} at byte {offset}: {problem}")
        self.part = part
        self.offset = offset
        self.problem = problem

    def __reduce__(self) -> tuple[type[G2DError], tuple[str, int, str]]:
        return (G2DError, (self.part, self.offset, self.problem))  # picklable across worker processes


@dataclass(frozen=True)
class ChunkInfo:
    """Where a chunk sits and how big it is.

    Attributes:
        type: the 4-letter chunk type.
        offset: byte offset of the chunk (its length field) in the file.
        stored_size: length of the chunk's data in the file.
        raw_size: decoded size of its payload (the uncompressed stream for attribute chunks, else ``stored_size``).
    """

    type: str
    offset: int
    stored_size: int
    raw_size: int

    @property
    def critical(self) -> bool:
        """Whether a reader must understand this chunk."""
        return is_critical(self.type)


@dataclass(frozen=True)
class G2DFile:
    """A parsed `.g2d` file.

    Attributes:
        gaussians: the quantized Gaussians.
        metadata: the ``meta`` chunk's key/value pairs (empty when absent).
        version: ``(major, minor)`` of the file.
        chunks: every chunk in file order, ``GEND`` included.
        size: the file's length in bytes.
    """

    gaussians: QuantizedGaussians
    metadata: dict[str, str]
    version: tuple[int, int]
    chunks: list[ChunkInfo]
    size: int


def crc32(*parts: bytes) -> int:
    """CRC-32 (ISO-HDLC, as in PNG and zlib) of the concatenated ``parts``."""
    value = 0
    for part in parts:
        value = zlib.crc32(part, value)
    return value


def is_critical(chunk_type: str) -> bool:
    """PNG's rule: an upper-case first letter marks a critical chunk."""
    return chunk_type[:1].isupper()
