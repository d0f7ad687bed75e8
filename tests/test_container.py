"""The `.g2d` container: exact round trips, and one clean ``G2DError`` for every kind of damage."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pickle
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import zstandard
from scenes import random_scene

from fast2dgs_cli.container import (
    CONTAINER_VERSION,
    MAX_GAUSSIANS,
    G2DError,
    accept,
    describe,
    read_g2d,
    write_g2d,
)
from fast2dgs_cli.container.format import HEADER_END, crc32
from fast2dgs_cli.container.streams import FILTER_DELTA, FILTER_NONE, decode_attribute, encode_attribute
from fast2dgs_cli.container.writer import write_chunk, write_header
from fast2dgs_cli.encoder.quantize import quantize
from fast2dgs_cli.gaussians import dequantize
from fast2dgs_cli.render import render
from fast2dgs_cli.representation import BitDepths, QuantizedAttribute, QuantizedGaussians

CONFORMANCE = Path(__file__).parent.parent / "formats" / "conformance"
METADATA = {"encoder": "f2dgs test", "seed": "7", "note": "ünïcødé ✓"}


def _quantized(n: int = 12, bits: BitDepths | None = None) -> QuantizedGaussians:
    return quantize(random_scene(n, seed=11), 23, 37, bits or BitDepths())


def _chunks(data: bytes) -> list[tuple[int, str, bytes]]:
    """(offset, type, data) of every chunk, parsed without the reader."""
    found, at = [], HEADER_END
    while at < len(data):
        length, kind = struct.unpack_from("<I4s", data, at)
        found.append((at, kind.decode(), data[at + 8 : at + 8 + length]))
        at += 12 + length
    return found


def _assemble(q: QuantizedGaussians, chunks: list[tuple[str, bytes]], version: tuple[int, int] = (2, 0)) -> bytes:
    return write_header(q.width, q.height, q.count, version) + b"".join(write_chunk(t, d) for t, d in chunks)


def _raw_zstd_frame(payload: bytes, declared: int) -> bytes:
    """A hand-made single-segment zstd frame: one raw block, with any declared content size."""
    header = b"\x28\xb5\x2f\xfd" + bytes([0xA0]) + struct.pack("<I", declared)
    block = (1 | (len(payload) << 3)).to_bytes(3, "little")  # last block, raw
    return header + block + payload


@pytest.fixture(scope="module")
def small() -> bytes:
    return write_g2d(_quantized(), METADATA)


def test_round_trip_is_exact(small: bytes) -> None:
    q = _quantized()
    file = read_g2d(small)
    assert file.gaussians == q
    assert file.metadata == METADATA
    assert file.version == CONTAINER_VERSION == (2, 0)
    assert file.size == len(small)
    assert [c.type for c in file.chunks] == ["meta", "GPOS", "GSCL", "GROT", "GCOL", "GEND"]
    assert write_g2d(file.gaussians, file.metadata) == small
    assert write_g2d(q, dict(reversed(list(METADATA.items())))) == small  # metadata order does not matter
    assert accept(small) and not accept(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("bits", [BitDepths(1, 1, 1, 1), BitDepths(24, 17, 9, 16), BitDepths(8, 8, 8, 8)])
def test_round_trip_any_bit_depth(bits: BitDepths) -> None:
    q = _quantized(200, bits)
    assert read_g2d(write_g2d(q)).gaussians == q


def test_round_trip_zero_and_one_gaussian() -> None:
    for n in (0, 1):
        q = quantize(random_scene(n, seed=1), 16, 16)
        file = read_g2d(write_g2d(q))
        assert file.gaussians == q and file.metadata == {}


def test_chunk_table(small: bytes) -> None:
    file = read_g2d(small)
    for info, (offset, kind, data) in zip(file.chunks, _chunks(small)):
        assert (info.type, info.offset, info.stored_size) == (kind, offset, len(data))
    gpos = file.chunks[1]
    assert gpos.critical and gpos.raw_size == 12 * 2 * 2
    assert not file.chunks[0].critical


def test_describe(small: bytes) -> None:
    text = describe(small)
    assert "37x23" in text and "12 Gaussians" in text and "GSCL" in text and "seed: 7" in text


def test_truncation_at_every_offset_raises_g2d_error(small: bytes) -> None:
    for end in range(len(small)):
        with pytest.raises(G2DError):
            read_g2d(small[:end])


def test_every_byte_flip_raises_g2d_error(small: bytes) -> None:
    for index in range(len(small)):
        for mask in (0x01, 0x20, 0x80, 0xFF):
            damaged = bytearray(small)
            damaged[index] ^= mask
            with pytest.raises(G2DError):
                read_g2d(bytes(damaged))


def test_errors_name_the_part_and_offset(small: bytes) -> None:
    gpos = _chunks(small)[1][0]
    damaged = bytearray(small)
    damaged[gpos + 20] ^= 1
    with pytest.raises(G2DError, match=r"GPOS at byte \d+: CRC mismatch") as caught:
        read_g2d(bytes(damaged))
    assert caught.value.part == "GPOS" and caught.value.offset > gpos
    copy = pickle.loads(pickle.dumps(caught.value))
    assert isinstance(copy, G2DError) and str(copy) == str(caught.value) and copy.offset == caught.value.offset
    with pytest.raises(G2DError, match="magic at byte 0: not a .g2d file"):
        read_g2d(b"\x89PNG\r\n\x1a\n" + small[8:])
    with pytest.raises(G2DError, match="text-mode"):
        read_g2d(small.replace(b"\r\n", b"\n", 1))
    with pytest.raises(G2DError, match="header"):
        read_g2d(b"")


def test_wrong_major_version_is_named_but_minor_is_accepted(small: bytes) -> None:
    q = _quantized()
    body = [(t, d) for _, t, d in _chunks(small)]
    with pytest.raises(G2DError, match=r"unsupported \.g2d version 3\.0 \(this reader reads 2\.x\)"):
        read_g2d(_assemble(q, body, version=(3, 0)))
    with pytest.raises(G2DError, match=r"unsupported \.g2d version 1\.0"):
        read_g2d(_assemble(q, body, version=(1, 0)))
    assert read_g2d(_assemble(q, body, version=(2, 7))).version == (2, 7)


def test_reserved_flags_must_be_zero(small: bytes) -> None:
    header = bytearray(small[:HEADER_END])
    header[10] = 0x01
    header[24:28] = crc32(bytes(header[8:24])).to_bytes(4, "little")
    with pytest.raises(G2DError, match="reserved flag"):
        read_g2d(bytes(header) + small[HEADER_END:])


def test_unknown_chunks(small: bytes) -> None:
    q = _quantized()
    body = [(t, d) for _, t, d in _chunks(small)]
    skipped = _assemble(q, body[:2] + [("xtRA", b"anything at all")] + body[2:])
    file = read_g2d(skipped)
    assert file.gaussians == q and "xtRA" in [c.type for c in file.chunks]
    with pytest.raises(G2DError, match="XTRA at byte .*unknown critical chunk"):
        read_g2d(_assemble(q, body[:2] + [("XTRA", b"")] + body[2:]))
    with pytest.raises(G2DError, match="not 4 ASCII letters"):
        read_g2d(_assemble(q, body[:2] + [("x1RA", b"")] + body[2:]))


def test_chunk_multiplicity_order_and_trailing_bytes(small: bytes) -> None:
    q = _quantized()
    body = [(t, d) for _, t, d in _chunks(small)]  # meta, GPOS, GSCL, GROT, GCOL, GEND
    with pytest.raises(G2DError, match="GPOS .*duplicate"):
        read_g2d(_assemble(q, body[:2] + body[1:]))
    with pytest.raises(G2DError, match="meta .*duplicate"):
        read_g2d(_assemble(q, body[:1] + body))
    with pytest.raises(G2DError, match="missing critical chunk.*GROT"):
        read_g2d(_assemble(q, body[:3] + body[4:]))
    with pytest.raises(G2DError, match="trailing"):
        read_g2d(small + b"\0")
    with pytest.raises(G2DError, match="GEND must be empty"):
        read_g2d(_assemble(q, body[:-1] + [("GEND", b"x")]))
    with pytest.raises(G2DError, match="no GEND"):
        read_g2d(_assemble(q, body[:-1]))
    assert read_g2d(_assemble(q, body[1:5] + body[:1] + body[5:])).metadata == METADATA  # any order before GEND


def test_huge_declared_sizes_allocate_nothing(small: bytes) -> None:
    tracemalloc.start()
    try:
        huge_chunk = bytearray(small)
        huge_chunk[HEADER_END : HEADER_END + 4] = b"\xff\xff\xff\xff"
        with pytest.raises(G2DError, match="declares 4294967295 data bytes"):
            read_g2d(bytes(huge_chunk))
        header = bytearray(small[:HEADER_END])
        struct.pack_into("<I", header, 20, MAX_GAUSSIANS)  # count at the limit: the streams no longer match
        header[24:28] = crc32(bytes(header[8:24])).to_bytes(4, "little")
        with pytest.raises(G2DError, match="zstd frame declares"):
            read_g2d(bytes(header) + small[HEADER_END:])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    for field, value, message in [(12, 16385, "width"), (16, 0, "height"), (20, MAX_GAUSSIANS + 1, "exceed")]:
        header = bytearray(small[:HEADER_END])
        struct.pack_into("<I", header, field, value)
        header[24:28] = crc32(bytes(header[8:24])).to_bytes(4, "little")
        with pytest.raises(G2DError, match=message):
            read_g2d(bytes(header) + small[HEADER_END:])


def _with_gpos(q: QuantizedGaussians, gpos: bytes) -> bytes:
    body = [(t, d) for _, t, d in _chunks(write_g2d(q))]
    return _assemble(q, [(t, gpos if t == "GPOS" else d) for t, d in body])


def test_zstd_frames_that_lie_about_their_size() -> None:
    q = _quantized()
    params = _chunks(write_g2d(q))[0][2][: 4 + 9 * 2]  # bits, channels, reserved, ranges, filters of GPOS
    raw_len = q.count * 2 * 2
    payload = bytes(raw_len)
    assert read_g2d(_with_gpos(q, params + _raw_zstd_frame(payload, raw_len))).gaussians.count == q.count
    cases = [
        ("zstd frame declares 1000 bytes", _raw_zstd_frame(payload, 1000)),  # declared size ≠ expected
        ("corrupt zstd frame", _raw_zstd_frame(payload[:-3], raw_len)),  # declared right, holds fewer
        ("corrupt zstd frame", _raw_zstd_frame(payload + b"abc", raw_len)),  # declared right, holds more
        ("zstd frame declares no size", zstandard.ZstdCompressor(write_content_size=False).compress(payload)),
        ("stream is not a zstd frame", b"\x50\x2a\x4d\x18" + struct.pack("<I", 4) + b"abcd"),  # skippable frame
        ("bad zstd frame header", b"\x28\xb5\x2f\xfd"),
    ]
    for message, frame in cases:
        with pytest.raises(G2DError, match=f"GPOS at byte \\d+: {message}"):
            read_g2d(_with_gpos(q, params + frame))
    with pytest.raises(G2DError, match="unused data|corrupt"):
        read_g2d(_with_gpos(q, params + _raw_zstd_frame(payload, raw_len) + b"\0"))


def test_attribute_parameters_are_validated() -> None:
    q = _quantized()
    gpos = _chunks(write_g2d(q))[0][2]

    def patched(at: int, value: bytes) -> bytes:
        return _with_gpos(q, gpos[:at] + value + gpos[at + len(value) :])

    for at, value, message in [
        (0, b"\x00", "bit depth 0"),
        (0, b"\x19", "bit depth 25"),
        (1, b"\x03", "3 channels, expected 2"),
        (2, b"\x01", "reserved"),
        (4, struct.pack("<f", float("nan")), "range"),
        (4, struct.pack("<f", 2.0), "range"),  # lo > hi
        (20, b"\x07", "unknown filter 7"),
    ]:
        with pytest.raises(G2DError, match=message):
            read_g2d(patched(at, value))
    q12 = _quantized(bits=BitDepths(xy=12))
    params12 = _chunks(write_g2d(q12))[0][2][: 4 + 9 * 2]
    all_ones = zstandard.ZstdCompressor().compress(b"\xff" * (q12.count * 2 * 2))  # 0xFFFF needs 16 bits
    with pytest.raises(G2DError, match="exceeds 12 bits"):
        read_g2d(_with_gpos(q12, params12 + all_ones))


def test_writer_rejects_what_the_reader_would() -> None:
    g = random_scene(3, seed=2)
    with pytest.raises(ValueError, match="outside the format"):
        write_g2d(quantize(g, 16385, 16))
    with pytest.raises(ValueError, match="metadata key"):
        write_g2d(quantize(g, 16, 16), {"": "x"})


def _load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_conformance", CONFORMANCE / "make_conformance.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_conformance_files() -> None:
    expected = json.loads((CONFORMANCE / "expected.json").read_text())
    generator = _load_generator()
    assert sorted(expected["files"]) == sorted(p.name for p in CONFORMANCE.glob("*.g2d"))
    for name, entry in expected["files"].items():
        data = (CONFORMANCE / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["file_sha256"], name
        if not entry["valid"]:
            with pytest.raises(G2DError, match=entry["error"]):
                read_g2d(data)
            continue
        file = read_g2d(data)
        q = file.gaussians
        assert [q.width, q.height, q.count] == [entry["width"], entry["height"], entry["count"]]
        assert list(file.version) == entry["version"] and file.metadata == entry["metadata"]
        assert {k: a.bits for k, a in q.attributes().items()} == entry["bits"]
        g = dequantize(q)
        values = b"".join(getattr(g, n).numpy().astype("<f4").tobytes() for n in ("xy", "scale", "rotation", "color"))
        assert hashlib.sha256(values).hexdigest() == entry["dequantized_sha256"], name
        image = render(g, q.height, q.width, backend="torch")
        assert hashlib.sha256(generator.to_rgb8(image)).hexdigest() == entry["rgb8_sha256"], name
        for other in entry.get("renders", []):  # at another size: every std times the factor (g2d.md §10.5)
            size = (other["height"], other["width"])
            assert size == (other["factor"] * q.height, other["factor"] * q.width), name
            image = render(g.resized((q.height, q.width), size), *size, backend="torch")
            assert hashlib.sha256(generator.to_rgb8(image)).hexdigest() == other["rgb8_sha256"], (name, size)
    assert any("renders" in entry for entry in expected["files"].values())


def test_payload_fuzzing_with_valid_crcs_raises_only_g2d_error(small: bytes) -> None:
    """Mutate chunk data *and* fix the CRC, so the payload parsers (not just the CRC) see the damage."""
    q = _quantized()
    body = [(t, d) for _, t, d in _chunks(small)]
    rng = np.random.default_rng(0)
    outcomes = {"ok": 0, "error": 0}
    for trial in range(600):
        index = int(rng.integers(0, len(body) - 1))  # any chunk but GEND
        kind, data = body[index]
        data = bytearray(data)
        action = trial % 3
        at = int(rng.integers(0, max(len(data), 1)))
        if action == 0 and data:
            data[at] = int(rng.integers(0, 256))
        elif action == 1:
            data.insert(at, int(rng.integers(0, 256)))
        elif data:
            del data[at]
        mutated = body[:index] + [(kind, bytes(data))] + body[index + 1 :]
        try:
            read_g2d(_assemble(q, mutated))
            outcomes["ok"] += 1
        except G2DError:
            outcomes["error"] += 1
    assert outcomes["error"] > 400


def test_writer_delta_filters_codes_that_rise_within_runs_and_reads_them_back() -> None:
    # x ascending within each of 8 bands and falling back at each band's start (encoder.order's banded order)
    rng = np.random.default_rng(3)
    x = np.concatenate([np.sort(rng.integers(0, 2048, 300)) for _ in range(8)])
    codes = np.stack([x, rng.integers(0, 2048, x.size)], axis=1).astype(np.uint16)
    attribute = QuantizedAttribute(11, np.zeros(2, np.float32), np.ones(2, np.float32), codes)
    data = encode_attribute(attribute)
    assert data[4 + 16 : 4 + 18] == bytes([FILTER_DELTA, FILTER_NONE])  # x delta (wrapping 7 times), y none
    assert decode_attribute(data, "GPOS", 0, x.size, 2, "xy") == attribute
    forced = encode_attribute(attribute, [FILTER_NONE, FILTER_DELTA])
    assert forced[4 + 16 : 4 + 18] == bytes([FILTER_NONE, FILTER_DELTA]) and len(forced) > len(data)
    assert decode_attribute(forced, "GPOS", 0, x.size, 2, "xy") == attribute
