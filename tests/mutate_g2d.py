"""Mutants of `.g2d` files, for fuzzing the reader.

``g2d_seeds()`` are valid files: random quantized scenes (0 to 40 Gaussians, bit depths 1 to 24, with and
without metadata) and the conformance files. ``mutate_g2d(rng, seeds)`` returns one mutant as a pure function
of the ``random.Random`` state (a seeded one, or hypothesis's), so a run is reproduced from its seed.
``check_g2d(data)`` runs the reader, and ``describe`` on what the reader accepts, and returns the exception
that is not a ``G2DError`` (a bug), or ``None``; ``read_outcome`` says what became of an input that was read or
refused.

Most mutants are structure-aware: the file is split into header fields and chunks, edited, and joined back
with the header CRC and every chunk CRC recomputed (now and then one left stale), so the edit reaches the
checks behind the checksums:

* header: version, flags, width, height, Gaussian count (also changed together with freshly written streams);
* framing: declared lengths, chunk types, order, duplicates, unknown chunks, a missing or non-empty ``GEND``,
  trailing bytes, chunks grafted from another file;
* attribute chunks: bit depth, channels, reserved bytes, ranges (NaN, infinities, limits, reversed), filters,
  and the zstd frame (declared size, no size, dictionary id, checksum, skippable frame, truncation, extra
  data, damaged blocks, RLE blocks, planes re-compressed with codes wider than the bit depth);
* ``meta``: key and value lengths, invalid UTF-8, duplicate keys.

The rest are byte edits of the whole file (flips, interesting values, truncations, insertions, deletions),
which mostly stop at a CRC.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zstandard

from fast2dgs_cli.container import G2DError, describe, read_g2d
from fast2dgs_cli.container.format import HEADER_END, MAX_GAUSSIANS, crc32

__all__ = ["check_g2d", "edit_bytes", "g2d_seeds", "mutate_g2d", "read_outcome"]

CONFORMANCE = Path(__file__).resolve().parent.parent / "formats" / "conformance"
_ATTRIBUTES = {b"GPOS": 2, b"GSCL": 2, b"GROT": 1, b"GCOL": 3}
_CHUNK_TYPES = [*_ATTRIBUTES, b"GEND", b"meta", b"xtRA", b"XTRA", b"x1RA", b"gpos", b"Gpos", b"META", b"GEnd"]
_U32 = [0, 1, 2, 3, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 16383, 16384, 16385, MAX_GAUSSIANS,
        MAX_GAUSSIANS + 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]  # fmt: skip
_BITS = [0, 1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, 32, 128, 255]
_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-45, -1e-45, 3.4e38, -3.4e38, 20.0, -20.0, 20.000002, 2.0**20,
           -(2.0**20), 2.0**20 + 1, 1e30, float("inf"), float("-inf"), float("nan")]  # fmt: skip
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_PARTS = {"magic", "header", "chunk", "meta", "GEND", "GPOS", "GSCL", "GROT", "GCOL"}


def g2d_seeds() -> list[bytes]:
    """Valid files to start from (the conformance files' invalid ones too: an edit may mend them)."""
    from scenes import random_scene

    from fast2dgs_cli.container import write_g2d
    from fast2dgs_cli.encoder.quantize import quantize
    from fast2dgs_cli.representation import BitDepths

    cases = [(0, BitDepths()), (1, BitDepths(1, 1, 1, 1)), (3, BitDepths(24, 20, 17, 16)),
             (7, BitDepths(9, 8, 7, 7)), (17, BitDepths(8, 9, 16, 1)), (40, BitDepths(13, 7, 7, 7))]  # fmt: skip
    files = []
    for index, (count, bits) in enumerate(cases):
        q = quantize(random_scene(count, seed=index), 31 - 3 * index, 13 + 9 * index, bits)
        files.append(write_g2d(q, {"encoder": "fuzz", "seed": str(index)} if index % 2 else None))
    return files + [path.read_bytes() for path in sorted(CONFORMANCE.glob("*.g2d"))]


def read_outcome(data: bytes) -> str:
    """Read ``data`` (and describe it when it reads): ``accepted``, or the part a ``G2DError`` names (``header``,
    ``GPOS``, …, ``unknown chunk``); any other exception propagates."""
    try:
        read_g2d(data)
        describe(data)
    except G2DError as error:
        return error.part if error.part in _PARTS else "unknown chunk"
    return "accepted"


def check_g2d(data: bytes) -> Exception | None:
    """Read ``data`` (and describe it when it reads); the exception that is not a ``G2DError``, or ``None``."""
    try:
        read_outcome(data)
    except Exception as error:  # what the fuzzer looks for
        return error
    return None


@dataclass
class _Chunk:
    kind: bytes
    data: bytes
    length: int | None = None  # a declared length other than len(data)
    stale_crc: bool = False


@dataclass
class _File:
    magic: bytes
    fields: bytearray  # bytes 8..23: major, minor, flags, width, height, count
    chunks: list[_Chunk] = field(default_factory=list)
    trailer: bytes = b""
    stale_crc: bool = False

    def join(self) -> bytes:
        header_crc = crc32(bytes(self.fields)) ^ (1 if self.stale_crc else 0)
        parts = [self.magic, bytes(self.fields), header_crc.to_bytes(4, "little")]
        for chunk in self.chunks:
            length = len(chunk.data) if chunk.length is None else chunk.length
            checksum = crc32(chunk.kind, chunk.data) ^ (0x80 if chunk.stale_crc else 0)
            parts += [struct.pack("<I", length), chunk.kind, chunk.data, checksum.to_bytes(4, "little")]
        return b"".join(parts) + self.trailer

    @property
    def count(self) -> int:
        return struct.unpack_from("<I", self.fields, 12)[0]


def _split(data: bytes) -> _File | None:
    """Header fields and chunks of a file whose chunk framing holds together (CRCs not checked)."""
    if len(data) < HEADER_END:
        return None
    file, at = _File(data[:8], bytearray(data[8:24])), HEADER_END
    while at + 12 <= len(data):
        (length,) = struct.unpack_from("<I", data, at)
        if at + 12 + length > len(data):
            break
        file.chunks.append(_Chunk(data[at + 4 : at + 8], data[at + 8 : at + 8 + length]))
        at += 12 + length
    file.trailer = data[at:]
    return file


def mutate_g2d(rng: random.Random, seeds: list[bytes]) -> bytes:
    """One mutant of a file drawn from ``seeds``."""
    data = rng.choice(seeds)
    file = _split(data)
    if file is None or rng.random() < 0.2:
        return edit_bytes(rng, data, rng.choice([1, 1, 2, 4]))
    if file.fields[0] != 2 and rng.random() < 0.9:
        file.fields[0] = 2  # mend the conformance file of version 3 most of the time
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        edit = rng.choice(_FILE_EDITS)
        edit(rng, file, seeds)
    if rng.random() < 0.04:
        rng.choice(file.chunks or [file]).stale_crc = True
    data = file.join()
    return edit_bytes(rng, data, 1) if rng.random() < 0.04 else data


# -- byte edits ---------------------------------------------------------------------------------------------


def _random_bytes(rng: random.Random, n: int) -> bytes:
    return rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""


def edit_bytes(rng: random.Random, data: bytes, edits: int = 1, hot: int = 0) -> bytes:
    """``edits`` random byte edits of ``data``; with ``hot`` > 0 half of them land in its first ``hot`` bytes."""
    out = bytearray(data)
    for _ in range(edits):
        span = min(len(out), hot) if hot and rng.random() < 0.5 else len(out)
        at = rng.randrange(span) if span else 0
        kind = rng.randrange(9)
        if kind == 0 and out:
            out[at] ^= 1 << rng.randrange(8)
        elif kind == 1 and out:
            out[at] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif kind == 2 and len(out) >= at + 4:
            out[at : at + 4] = struct.pack(rng.choice("<>") + "I", rng.choice(_U32))
        elif kind == 3 and len(out) >= at + 2:
            out[at : at + 2] = struct.pack(rng.choice("<>") + "H", rng.choice([0, 1, 0x7FFF, 0x8000, 0xFFFF]))
        elif kind == 4:
            out[at:at] = _random_bytes(rng, rng.choice([1, 2, 4, rng.randrange(1, 64)]))
        elif kind == 5:
            del out[at : at + rng.choice([1, 2, 4, rng.randrange(1, 64)])]
        elif kind == 6:
            del out[rng.randrange(len(out) + 1) :]
        elif kind == 7 and out:
            piece = out[at : at + rng.randrange(1, 64)]
            position = rng.randrange(len(out) + 1)
            out[position:position] = piece
        else:
            out += _random_bytes(rng, rng.randrange(1, 16))
    return bytes(out)


# -- structure-aware edits -----------------------------------------------------------------------------------


def _edit_header(rng: random.Random, file: _File, seeds: list[bytes]) -> None:
    offset, size = rng.choice([(0, 1), (1, 1), (2, 2), (4, 4), (8, 4), (12, 4), (12, 4)])
    current = int.from_bytes(file.fields[offset : offset + size], "little")
    value = rng.choice([*_U32, current + 1, current - 1, current * 2, current // 2, rng.getrandbits(8 * size)])
    file.fields[offset : offset + size] = (value % (1 << (8 * size))).to_bytes(size, "little")
    if rng.random() < 0.03:
        file.stale_crc = True
    if rng.random() < 0.03:
        file.magic = edit_bytes(rng, file.magic)


def _edit_chunk_list(rng: random.Random, file: _File, seeds: list[bytes]) -> None:
    chunks = file.chunks
    kind = rng.randrange(7)
    if kind == 0 and chunks:
        del chunks[rng.randrange(len(chunks))]
    elif kind == 1 and chunks:
        chunk = rng.choice(chunks)
        chunks.insert(rng.randrange(len(chunks) + 1), _Chunk(chunk.kind, chunk.data))
    elif kind == 2 and len(chunks) > 1:
        i, j = rng.sample(range(len(chunks)), 2)
        chunks[i], chunks[j] = chunks[j], chunks[i]
    elif kind == 3 and chunks:
        rng.choice(chunks).kind = rng.choice([*_CHUNK_TYPES, _random_bytes(rng, 4)])
    elif kind == 4:
        new = _Chunk(rng.choice(_CHUNK_TYPES), _random_bytes(rng, rng.choice([0, 1, 8, rng.randrange(64)])))
        chunks.insert(rng.randrange(len(chunks) + 1), new)
    elif kind == 5:
        donor = _split(rng.choice(seeds))
        if donor is not None and donor.chunks:
            graft = rng.choice(donor.chunks)
            chunks.insert(rng.randrange(len(chunks) + 1), graft)
    else:
        file.trailer += _random_bytes(rng, rng.choice([1, 4, 12, rng.randrange(1, 40)]))


def _edit_framing(rng: random.Random, file: _File, seeds: list[bytes]) -> None:
    if not file.chunks:
        return
    chunk = rng.choice(file.chunks)
    if rng.random() < 0.5:
        chunk.length = rng.choice([*_U32, len(chunk.data) + 1, len(chunk.data) - 1, len(chunk.data) + 12]) % (1 << 32)
    else:
        chunk.data = edit_bytes(rng, chunk.data, rng.choice([1, 1, 2, 3]), hot=40)


def _attribute_chunks(file: _File) -> list[_Chunk]:
    return [chunk for chunk in file.chunks if chunk.kind in _ATTRIBUTES] or file.chunks


def _edit_attribute(rng: random.Random, file: _File, seeds: list[bytes]) -> None:
    chunks = _attribute_chunks(file)
    if not chunks:
        return
    chunk = rng.choice(chunks)
    data = bytearray(chunk.data)
    channels = _ATTRIBUTES.get(chunk.kind, 1)
    frame_at = 4 + 9 * channels
    kind = rng.randrange(8)
    if kind == 0 and data:
        data[0] = rng.choice(_BITS)
    elif kind == 1 and len(data) > 1:
        data[1] = rng.choice([0, 1, 2, 3, 4, 255])
    elif kind == 2 and len(data) > 3:
        data[rng.choice([2, 3])] = rng.choice([1, 0x80, 0xFF])
    elif kind == 3 and len(data) >= frame_at:
        at = 4 + 4 * rng.randrange(2 * channels)
        if rng.random() < 0.8:
            data[at : at + 4] = struct.pack("<f", rng.choice(_FLOATS))
        else:  # swap a channel's lo and hi
            lo = 4 + 8 * ((at - 4) // 8)
            data[lo : lo + 8] = data[lo + 4 : lo + 8] + data[lo : lo + 4]
    elif kind == 4 and len(data) >= frame_at:
        data[frame_at - channels + rng.randrange(channels)] = rng.choice([0, 1, 2, 255])
    elif kind == 5 and len(data) >= frame_at:
        data[frame_at:] = _edit_frame(rng, bytes(data[frame_at:]))
    else:
        count = file.count if file.count <= 70_000 and rng.random() < 0.8 else rng.randrange(50)
        data = bytearray(_fresh_attribute(rng, channels, count))
    chunk.data = bytes(data)


def _recount(rng: random.Random, file: _File, seeds: list[bytes]) -> None:
    """A new Gaussian count, with every attribute chunk rewritten to match it."""
    count = rng.choice([0, 1, 2, 5, 31, 256, rng.randrange(100), rng.randrange(70_000)])
    struct.pack_into("<I", file.fields, 12, count)
    for chunk in file.chunks:
        if chunk.kind in _ATTRIBUTES:
            chunk.data = _fresh_attribute(rng, _ATTRIBUTES[chunk.kind], count)


def _edit_meta(rng: random.Random, file: _File, seeds: list[bytes]) -> None:
    entries, odd = [], rng.random() < 0.5  # half the time every entry is well formed
    for index in range(rng.choice([0, 1, 2, 3])):
        key = rng.choice([b"k", str(index).encode(), "ü".encode(), b"x" * 255])
        value = rng.choice([b"", b"v", "✓".encode() * 3])
        if odd:
            key = rng.choice([key, key, b"\xff\xfe", b""])
            value = rng.choice([value, value, b"\xc3", _random_bytes(rng, 5)])
        key_length = len(key) if not odd or rng.random() < 0.8 else rng.choice([0, 1, 255, len(key) + 1])
        value_length = len(value) if not odd or rng.random() < 0.8 else rng.choice([*_U32, len(value) + 1])
        entries.append(bytes([key_length % 256]) + key + struct.pack("<I", value_length % (1 << 32)) + value)
    data = b"".join(entries)
    if odd and rng.random() < 0.2:
        data = data[: rng.randrange(len(data) + 1)]
    meta = [chunk for chunk in file.chunks if chunk.kind == b"meta"]
    if meta:
        meta[0].data = data
    else:
        file.chunks.insert(0, _Chunk(b"meta", data))


_FILE_EDITS = [_edit_header, _edit_chunk_list, _edit_framing, _edit_attribute, _edit_attribute, _edit_attribute,
               _recount, _edit_meta]  # fmt: skip


# -- attribute streams and zstd frames ---------------------------------------------------------------------------


def _fresh_attribute(rng: random.Random, channels: int, count: int) -> bytes:
    """Chunk data of a well-formed attribute (now and then with codes wider than its bit depth)."""
    bits = rng.choice([1, 7, 8, 9, 16, 17, 24, rng.randint(1, 24)])
    planes = (bits + 7) // 8
    top_mask = (1 << (bits - 8 * (planes - 1))) - 1
    wide = rng.random() < 0.1
    raw = np.frombuffer(_random_bytes(rng, channels * planes * count), np.uint8).reshape(channels, planes, count)
    if not wide:
        raw = raw.copy()
        raw[:, 0] &= top_mask
    ranges = b""
    for _ in range(channels):
        lo, hi = sorted((rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)))
        ranges += struct.pack("<ff", lo, hi)
    filters = bytes(rng.choice([0, 0, 1]) for _ in range(channels))
    frame = zstandard.ZstdCompressor(level=1, write_content_size=True).compress(raw.tobytes())
    return struct.pack("<BBH", bits, channels, 0) + ranges + filters + frame


def _decompressed(frame: bytes) -> bytes | None:
    try:
        return zstandard.ZstdDecompressor().decompress(frame, max_output_size=1 << 24)
    except zstandard.ZstdError:
        return None


def _frame_header(declared: int | None, dictionary: int | None = None, checksum: bool = False) -> bytes:
    """A single-segment zstd frame header (4-byte content size), or a multi-segment one without a size."""
    descriptor = (0xA0 if declared is not None else 0x00) | (0x04 if checksum else 0) | (1 if dictionary else 0)
    header = _ZSTD_MAGIC + bytes([descriptor])
    if declared is None:
        header += b"\x58"  # window descriptor: 2^21 bytes
    if dictionary:
        header += bytes([dictionary])
    return header + (struct.pack("<I", declared % (1 << 32)) if declared is not None else b"")


def _block(payload: bytes, last: bool, rle: bool = False, size: int | None = None) -> bytes:
    """A raw (or RLE: ``payload`` is one byte repeated ``size`` times) zstd block."""
    size = len(payload) if size is None else size
    header = (1 if last else 0) | ((1 if rle else 0) << 1) | ((size % (1 << 21)) << 3)
    return header.to_bytes(3, "little") + payload


def _edit_frame(rng: random.Random, frame: bytes) -> bytes:
    raw = _decompressed(frame)
    size = len(raw) if raw is not None else rng.randrange(64)
    kind = rng.randrange(10)
    if kind == 0 and raw is not None:  # different content, honestly declared
        raw = edit_bytes(rng, raw, rng.choice([1, 2]))
        return zstandard.ZstdCompressor(level=1, write_content_size=True).compress(raw)
    if kind == 1 and raw is not None:  # no declared size, or a checksum
        sized, checked = rng.random() < 0.5, rng.random() < 0.5
        compressed = zstandard.ZstdCompressor(write_content_size=sized, write_checksum=checked).compress(raw)
        return compressed[:-4] + _random_bytes(rng, 4) if checked and rng.random() < 0.5 else compressed
    if kind == 2:  # a hand-made raw block, declared size and payload free to disagree
        declared = rng.choice([size, size + 1, size - 1, 0, rng.choice(_U32)])
        payload = raw if raw is not None else _random_bytes(rng, size)
        if rng.random() < 0.3:
            payload = payload[:-1] if rng.random() < 0.5 else payload + b"\0"
        return _frame_header(declared) + _block(payload, last=True)
    if kind == 3:  # RLE blocks: a large declared size from a few bytes
        blocks = rng.choice([1, 2, 3])
        each = rng.choice([size, 1 << 17, rng.randrange(1, 1 << 17)])
        body = b"".join(_block(b"\x07", i == blocks - 1, rle=True, size=each) for i in range(blocks))
        return _frame_header(rng.choice([size, each * blocks])) + body
    if kind == 4:
        return _frame_header(size, dictionary=rng.randrange(1, 256)) + _block(raw or b"", last=True)
    if kind == 5:
        return _frame_header(None, checksum=rng.random() < 0.5) + _block(raw or b"", last=True)
    if kind == 6:  # a skippable frame first
        skippable = struct.pack("<II", 0x184D2A50 + rng.randrange(16), 3) + b"abc"
        return skippable + frame if rng.random() < 0.5 else frame + skippable
    if kind == 7:
        return frame[: rng.randrange(len(frame) + 1)]
    if kind == 8:
        return frame + rng.choice([frame, b"\0", _ZSTD_MAGIC, _random_bytes(rng, rng.randrange(1, 9))])
    return edit_bytes(rng, frame, rng.choice([1, 2, 3]), hot=14)
