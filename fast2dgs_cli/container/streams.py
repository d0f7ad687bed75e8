"""Attribute chunk payloads: grid parameters plus one zstd frame of filtered, byte-planed codes.

```
offset   size  field
0        1     bits B (1..24)
1        1     channels C (GPOS 2, GSCL 2, GROT 1, GCOL 3)
2        2     reserved, 0
4        8·C   per channel: float32 lo, float32 hi
4+8C     C     per channel: filter (0 none, 1 delta)
4+9C     …     one zstd frame declaring its content size C·K·N, K = ceil(B/8)
```
Decompressed: for each channel, its K byte planes, most significant first, N bytes each. The writer ends a
zstd block after every plane, so each plane gets its own literal (Huffman) table: a plane of nearly constant
high bytes and one of uniform low bytes code better apart than with one table (``docs/encoder.md``).
Any zstd decoder reads the frame as usual.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

import numpy as np
import zstandard

from ..representation import MAX_BITS, QuantizedAttribute, code_dtype, range_limit
from .format import ZSTD_LEVEL, G2DError

__all__ = ["FILTER_DELTA", "FILTER_NONE", "decode_attribute", "encode_attribute", "raw_size"]

FILTER_NONE = 0
FILTER_DELTA = 1
_FIXED = struct.Struct("<BBH")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def raw_size(count: int, channels: int, bits: int) -> int:
    """Size in bytes of the decompressed stream."""
    return count * channels * ((bits + 7) // 8)


def encode_attribute(attribute: QuantizedAttribute, filters: Sequence[int] | None = None) -> bytes:
    """The chunk data of one attribute, with the given filter per channel, or by default: delta where the codes
    never decrease, or where the planes compress smaller so (codes that rise within runs, such as x in the
    bands of ``encoder.order``)."""
    codes = attribute.codes.astype(np.uint32)  # [N, C]
    n, channels = codes.shape
    planes_per_code = (attribute.bits + 7) // 8
    mask = np.uint32((1 << (8 * planes_per_code)) - 1)
    chosen, planes = [], []
    for c in range(channels):
        column = codes[:, c]
        plain = _byte_planes(column, planes_per_code)
        delta = _byte_planes(np.diff(column, prepend=np.uint32(0)) & mask, planes_per_code)
        if filters is not None:
            use_delta = filters[c] == FILTER_DELTA
        elif n < 2:
            use_delta = False
        elif bool(np.all(column[1:] >= column[:-1])):
            use_delta = True  # a column that never decreases: its differences are small
        else:
            use_delta = len(_compress_planes(delta)) < len(_compress_planes(plain))
        chosen.append(FILTER_DELTA if use_delta else FILTER_NONE)
        planes.extend(delta if use_delta else plain)
    frame = _compress_planes(planes)
    ranges = np.stack([attribute.lo, attribute.hi], axis=1).astype("<f4").tobytes()
    return _FIXED.pack(attribute.bits, channels, 0) + ranges + bytes(chosen) + frame


def _byte_planes(stored: np.ndarray, planes_per_code: int) -> list[np.ndarray]:
    """The byte planes of ``stored`` values, most significant first."""
    return [((stored >> np.uint32(8 * p)) & np.uint32(0xFF)).astype(np.uint8) for p in reversed(range(planes_per_code))]


def _compress_planes(planes: list[np.ndarray]) -> bytes:
    """One zstd frame (content size declared, no checksum) of the planes back to back, a block per plane."""
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True, write_checksum=False)
    stream = compressor.compressobj(size=sum(plane.size for plane in planes))
    parts = []
    for plane in planes:
        parts.append(stream.compress(plane.tobytes()))
        parts.append(stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
    parts.append(stream.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))
    return b"".join(parts)


def decode_attribute(
    data: bytes, chunk: str, offset: int, count: int, channels: int, attribute: str
) -> QuantizedAttribute:
    """Parse the data of attribute chunk ``chunk`` whose data starts at file ``offset``; raise ``G2DError``."""

    def fail(at: int, problem: str) -> G2DError:
        return G2DError(chunk, offset + at, problem)

    if len(data) < _FIXED.size:
        raise fail(0, f"data is {len(data)} bytes, too short for the attribute parameters")
    bits, found_channels, reserved = _FIXED.unpack_from(data)
    if not 1 <= bits <= MAX_BITS:
        raise fail(0, f"bit depth {bits} is outside 1..{MAX_BITS}")
    if found_channels != channels:
        raise fail(1, f"{found_channels} channels, expected {channels}")
    if reserved:
        raise fail(2, "reserved bytes are not 0")
    frame_at = _FIXED.size + 9 * channels
    if len(data) < frame_at:
        raise fail(0, f"data is {len(data)} bytes, too short for {channels} channel ranges")
    ranges = np.frombuffer(data, "<f4", 2 * channels, _FIXED.size).astype(np.float32).reshape(channels, 2)
    limit = range_limit(attribute)
    for c, (lo, hi) in enumerate(ranges):
        if not (-limit <= lo <= hi <= limit):
            raise fail(_FIXED.size + 8 * c, f"channel {c} range [{lo}, {hi}] is not ordered within ±{limit:g}")
    filters = data[frame_at - channels : frame_at]
    for c, value in enumerate(filters):
        if value not in (FILTER_NONE, FILTER_DELTA):
            raise fail(frame_at - channels + c, f"unknown filter {value} on channel {c}")
    raw = _decompress(data[frame_at:], raw_size(count, channels, bits), lambda problem: fail(frame_at, problem))
    codes = _unplane(raw, count, channels, bits, filters)
    too_big = np.nonzero(codes >= (1 << bits))[0]
    if too_big.size:
        raise fail(frame_at, f"code of Gaussian {too_big[0]} exceeds {bits} bits")
    return QuantizedAttribute(bits, ranges[:, 0].copy(), ranges[:, 1].copy(), codes.astype(code_dtype(bits)))


def _decompress(frame: bytes, expected: int, fail: Callable[[str], G2DError]) -> bytes:
    """Decompress one zstd frame of exactly ``expected`` bytes, checking its declared size first."""
    if frame[:4] != _ZSTD_MAGIC:
        raise fail("stream is not a zstd frame")
    try:
        params = zstandard.get_frame_parameters(frame)
    except zstandard.ZstdError as error:
        raise fail(f"bad zstd frame header ({error})") from None
    if params.content_size != expected:
        declared = "no size" if params.content_size >= zstandard.CONTENTSIZE_ERROR else f"{params.content_size} bytes"
        raise fail(f"zstd frame declares {declared}, expected {expected} bytes")
    if params.dict_id:
        raise fail("zstd frame needs a dictionary")
    try:
        raw = zstandard.ZstdDecompressor().decompress(frame, max_output_size=expected, allow_extra_data=False)
    except zstandard.ZstdError as error:
        raise fail(f"corrupt zstd frame ({error})") from None
    if len(raw) != expected:
        raise fail(f"zstd frame holds {len(raw)} bytes, expected {expected}")
    return raw


def _unplane(raw: bytes, count: int, channels: int, bits: int, filters: bytes) -> np.ndarray:
    """Reassemble ``[N, C]`` uint32 codes from byte planes and undo the filters."""
    planes_per_code = (bits + 7) // 8
    planes = np.frombuffer(raw, np.uint8).reshape(channels, planes_per_code, count).astype(np.uint32)
    codes = np.zeros((count, channels), np.uint32)
    mask = np.uint32((1 << (8 * planes_per_code)) - 1)
    for c in range(channels):
        column = np.zeros(count, np.uint32)
        for p in range(planes_per_code):
            column = (column << np.uint32(8)) | planes[c, p]
        if filters[c] == FILTER_DELTA:
            column = np.cumsum(column, dtype=np.uint32) & mask
        codes[:, c] = column
    return codes
