"""The ``meta`` chunk: UTF-8 key/value pairs.

Data = entries back to back, each ``key length u8 (≥ 1) | key | value length u32 | value``; keys are unique and
written in ascending order of their UTF-8 bytes, so the same pairs always give the same bytes.
"""

from __future__ import annotations

import struct

from .format import META_CHUNK, G2DError

__all__ = ["decode_metadata", "encode_metadata"]

_VALUE_LENGTH = struct.Struct("<I")


def encode_metadata(metadata: dict[str, str]) -> bytes:
    """Serialize ``metadata``; raise ``ValueError`` for a key that is empty or over 255 UTF-8 bytes."""
    entries = []
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(f"metadata keys and values must be str, got {key!r}: {value!r}")
        raw_key = key.encode("utf-8")
        if not 1 <= len(raw_key) <= 255:
            raise ValueError(f"metadata key {key!r} must be 1 to 255 UTF-8 bytes")
        entries.append((raw_key, value.encode("utf-8")))
    entries.sort()
    return b"".join(bytes([len(k)]) + k + _VALUE_LENGTH.pack(len(v)) + v for k, v in entries)


def decode_metadata(data: bytes, offset: int) -> dict[str, str]:
    """Parse ``meta`` chunk data that starts at file ``offset``; raise ``G2DError`` if malformed."""
    result: dict[str, str] = {}
    at = 0
    while at < len(data):
        key_length = data[at]
        value_at = at + 1 + key_length
        if key_length == 0 or value_at + _VALUE_LENGTH.size > len(data):
            raise G2DError(META_CHUNK, offset + at, "malformed entry (bad key length)")
        (value_length,) = _VALUE_LENGTH.unpack_from(data, value_at)
        end = value_at + _VALUE_LENGTH.size + value_length
        if end > len(data):
            raise G2DError(META_CHUNK, offset + value_at, f"value of {value_length} bytes overruns the chunk")
        try:
            key = data[at + 1 : value_at].decode("utf-8")
            value = data[value_at + _VALUE_LENGTH.size : end].decode("utf-8")
        except UnicodeDecodeError:
            raise G2DError(META_CHUNK, offset + at, "entry is not valid UTF-8") from None
        if key in result:
            raise G2DError(META_CHUNK, offset + at, f"duplicate key {key!r}")
        result[key] = value
        at = end
    return result
