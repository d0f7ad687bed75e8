"""Mutants of small image files, for fuzzing ``imageio.load_image``.

``image_seeds()`` are tiny pictures Pillow writes in every input format the CLI names (PNG, JPEG, GIF, TIFF,
BMP, WebP, PPM/PGM/PBM) and a few it also opens (TGA, PCX, ICO), in assorted modes (grey, 16-bit, palette,
alpha, CMYK, float) and encodings (TIFF raw, LZW, deflate, PackBits, JPEG, group 4; progressive JPEG;
multi-frame GIF, TIFF and WebP; EXIF orientation). ``mutate_image(rng, seeds)`` returns one mutant as a pure
function of the ``random.Random`` state:

* PNG: chunks edited, dropped, duplicated, swapped or inserted (``IHDR`` fields, ``PLTE``, ``tRNS``, ``eXIf``,
  APNG's ``acTL``/``fcTL``, text), ``IDAT`` re-compressed from edited rows, every CRC repaired;
* TIFF: directory entries' tag, type, count and value/offset edited, entries added, dropped or duplicated, the
  next-directory offset pointed back into the file;
* JPEG: segment lengths and header bytes (``SOF`` size and components, tables) edited, segments dropped or
  duplicated, an ``APP1`` EXIF block with a damaged orientation inserted;
* any format: byte edits biased to the header, and splices of two files.

``check_image(data)`` loads one input and returns the exception that is not an ``ImageError`` (a bug), or
``None``; ``load_outcome`` says what became of an input that loaded or was refused. Pillow's
decompression-bomb threshold is lowered to ``PIXEL_LIMIT`` around it, so a mutant whose
header claims a huge picture is refused at once instead of decoding for seconds.
"""

from __future__ import annotations

import io
import random
import re
import struct
import warnings
import zlib

import numpy as np
from mutate_g2d import edit_bytes
from PIL import Image

from fast2dgs_cli.imageio import ImageError, load_image

__all__ = ["PIXEL_LIMIT", "check_image", "image_seeds", "load_outcome", "mutate_image"]

PIXEL_LIMIT = 1 << 18
"""Pixels above which the harness has Pillow refuse a picture (its decompression-bomb warning, an ImageError)."""
_U32 = [0, 1, 2, 3, 4, 7, 8, 16, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
_TIFF_TAGS = [254, 256, 257, 258, 259, 262, 266, 273, 274, 277, 278, 279, 284, 296, 317, 320, 322, 323, 324, 325,
              338, 339, 347, 530, 532, 700, 33723, 34377, 34665, 34675, 34853, 37724]  # fmt: skip
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8}


def load_outcome(data: bytes) -> str:
    """Load ``data``: ``accepted``, or the kind of ``ImageError`` (its message up to a colon, semicolon or
    parenthesis, numbers as N); any other exception propagates."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = PIXEL_LIMIT
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's warnings about odd metadata are not failures
            load_image(data)
    except ImageError as error:
        return re.sub(r"\d+", "N", re.split("[:;(]", str(error))[0]).strip()
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return "accepted"


def check_image(data: bytes) -> Exception | None:
    """Load ``data``; the exception that is not an ``ImageError``, or ``None``."""
    try:
        load_outcome(data)
    except Exception as error:  # what the fuzzer looks for
        return error
    return None


def _picture(mode: str, width: int = 11, height: int = 7, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, width)[None, :] + np.linspace(0, 80, height)[:, None]
    rgb = np.clip(ramp[..., None] + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)
    base = Image.fromarray(rgb)  # the mode follows the array: RGB, I;16, F, RGBA, LA
    if mode == "I;16":
        return Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    if mode == "F":
        return Image.fromarray(rgb[..., 0].astype(np.float32) / 255.0)
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, rgb[..., :1]]))
    if mode == "LA":
        return Image.fromarray(np.dstack([rgb[..., :1], rgb[..., 1:2]]))
    if mode == "P":
        return base.quantize(8)
    return base.convert(mode)


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def _save(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


_SEED_CASES = [
    ("RGB", "PNG", {}), ("RGBA", "PNG", {}), ("L", "PNG", {}), ("LA", "PNG", {}), ("I;16", "PNG", {}),
    ("P+alpha", "PNG", {}), ("1", "PNG", {}), ("RGB", "PNG", {"exif": 6}),
    ("RGB", "JPEG", {"quality": 80}), ("L", "JPEG", {}), ("RGB", "JPEG", {"progressive": True, "subsampling": 2}),
    ("CMYK", "JPEG", {}), ("RGB", "JPEG", {"exif": 8}),
    ("P", "GIF", {}), ("RGB", "GIF", {"save_all": True}),
    ("RGB", "TIFF", {}), ("RGB", "TIFF", {"compression": "tiff_lzw"}),
    ("RGB", "TIFF", {"compression": "tiff_adobe_deflate"}), ("L", "TIFF", {"compression": "packbits"}),
    ("RGB", "TIFF", {"compression": "jpeg"}), ("1", "TIFF", {"compression": "group4"}), ("I;16", "TIFF", {}),
    ("F", "TIFF", {}), ("CMYK", "TIFF", {}), ("RGBA", "TIFF", {"tiffinfo": {274: 6}}), ("P", "TIFF", {}),
    ("RGB", "TIFF", {"save_all": True}),
    ("RGB", "BMP", {}), ("P", "BMP", {}), ("1", "BMP", {}), ("RGBA", "BMP", {}),
    ("RGB", "WEBP", {"quality": 70}), ("RGB", "WEBP", {"lossless": True}), ("RGBA", "WEBP", {"lossless": True}),
    ("RGB", "WEBP", {"save_all": True, "lossless": True}),
    ("RGB", "PPM", {}), ("L", "PPM", {}), ("1", "PPM", {}), ("I;16", "PPM", {}),
    ("RGB", "TGA", {"compression": "tga_rle"}), ("RGB", "PCX", {}), ("RGBA", "ICO", {}),
]  # fmt: skip
"""(mode, Pillow format, save options) of each seed: ``exif`` is an orientation, ``save_all`` adds a frame."""
_PLAIN_PNM = [b"P3\n3 2\n255\n255 0 0 0 255 0 0 0 255\n9 9 9 200 200 200 1 2 3\n", b"P1\n4 2\n1 0 1 0\n0 1 0 1\n"]


def image_seeds() -> list[bytes]:
    """Small valid files in every format and several modes and encodings (a format Pillow cannot write here
    is left out)."""
    files = []
    for mode, kind, options in _SEED_CASES:
        image = _picture(mode.removesuffix("+alpha"), 16 if kind == "TIFF" else 11, 16 if kind == "TIFF" else 7)
        if mode == "P+alpha":
            image.info["transparency"] = 0
        options = dict(options)
        if "exif" in options:
            options["exif"] = _exif(options["exif"])
        if options.get("save_all"):
            options["append_images"] = [_picture(mode, image.width, image.height, seed=1)]
        try:
            files.append(_save(image, kind, **options))
        except (KeyError, OSError, ValueError):
            continue  # this Pillow build cannot write it
    return files + _PLAIN_PNM


def mutate_image(rng: random.Random, seeds: list[bytes]) -> bytes:
    """One mutant of a file drawn from ``seeds``."""
    data = rng.choice(seeds)
    choice = rng.random()
    if choice < 0.5:
        structured = _STRUCTURED.get(data[:2]) or _STRUCTURED.get(data[:4]) or _STRUCTURED.get(data[:8])
        if structured is not None:
            data = structured(rng, data)
            return edit_bytes(rng, data, 1, hot=64) if rng.random() < 0.1 else data
    if choice < 0.58:
        other = rng.choice(seeds)
        return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]
    return edit_bytes(rng, data, rng.choice([1, 1, 2, 3, 6]), hot=64)


# -- PNG -------------------------------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[list[bytes]]:
    chunks, at = [], 8
    while at + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, at)
        chunks.append([data[at + 4 : at + 8], data[at + 8 : at + 8 + length]])
        at += 12 + length
    return chunks


def _png(rng: random.Random, data: bytes) -> bytes:
    chunks = _png_chunks(data)
    for _ in range(rng.choice([1, 1, 2, 3])):
        if not chunks:
            break
        kind = rng.randrange(7)
        chunk = rng.choice(chunks)
        if kind == 0 and chunks[0][0] == b"IHDR" and len(chunks[0][1]) == 13:
            ihdr = bytearray(chunks[0][1])
            at = rng.choice([0, 4, 8, 9, 10, 11, 12])
            if at < 8:
                ihdr[at : at + 4] = struct.pack(">I", rng.choice([*_U32, rng.randrange(1, 600)]))
            else:
                ihdr[at] = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 255])
            chunks[0][1] = bytes(ihdr)
        elif kind == 1:
            del chunks[rng.randrange(len(chunks))]
        elif kind == 2:
            chunks.insert(rng.randrange(len(chunks) + 1), list(chunk))
        elif kind == 3 and len(chunks) > 1:
            i, j = rng.sample(range(len(chunks)), 2)
            chunks[i], chunks[j] = chunks[j], chunks[i]
        elif kind == 4:
            chunks.insert(rng.randrange(1, len(chunks) + 1), _png_extra_chunk(rng))
        elif kind == 5 and chunk[0] == b"IDAT":
            raw = _inflate(chunk[1])
            if raw is not None:
                chunk[1] = zlib.compress(edit_bytes(rng, raw, rng.choice([1, 2, 4])))
        else:
            chunk[1] = edit_bytes(rng, chunk[1], rng.choice([1, 2]))
    out = bytearray(data[:8])
    for kind, body in chunks:
        checksum = zlib.crc32(kind + body) ^ (1 if rng.random() < 0.02 else 0)
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)
    return bytes(out)


def _inflate(data: bytes) -> bytes | None:
    try:
        return zlib.decompressobj().decompress(data, 1 << 20)
    except zlib.error:
        return None


def _png_extra_chunk(rng: random.Random) -> list[bytes]:
    kind = rng.choice([b"PLTE", b"tRNS", b"eXIf", b"acTL", b"fcTL", b"fdAT", b"gAMA", b"iCCP", b"tEXt", b"zTXt",
                       b"iTXt", b"sRGB", b"pHYs", b"cHRM", b"IEND"])  # fmt: skip
    if kind == b"eXIf":
        return [kind, _exif_tiff(rng)]
    if kind == b"acTL":
        return [kind, struct.pack(">II", rng.choice(_U32), rng.choice([0, 1, 2]))]
    if kind == b"fcTL":
        fields = [rng.choice([0, 1, 2]), *(rng.choice([0, 1, 5, 11, 0xFFFF, 0xFFFFFFFF]) for _ in range(4))]
        return [kind, struct.pack(">IIIII", *fields) + struct.pack(">HHBB", 1, rng.choice([0, 1]), 0, 0)]
    if kind == b"iCCP":
        return [kind, b"icc\0\0" + zlib.compress(bytes(rng.randrange(256) for _ in range(rng.randrange(200))))]
    if kind == b"zTXt":
        return [kind, b"k\0\0" + rng.choice([zlib.compress(b"x" * 40), b"\x78\x9c\xff"])]
    length = rng.choice([0, 1, 2, 3, 6, 9, 13, 48, 768, 769])
    return [kind, bytes(rng.randrange(256) for _ in range(length))]


# -- TIFF (and the TIFF inside EXIF blocks) ------------------------------------------------------------------------


def _exif_tiff(rng: random.Random) -> bytes:
    """A little-endian TIFF header and one directory with an orientation entry, often damaged."""
    orientation = rng.choice([1, 3, 6, 8, 0, 9, 0xFFFF])
    entries = [(0x0112, 3, 1, orientation)]
    if rng.random() < 0.5:
        entries.append((0x8769, 4, 1, rng.choice([0, 8, 26, 0xFFFFFFFF])))  # the EXIF sub-directory
    body = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    body += b"".join(struct.pack("<HHII", *entry) for entry in entries) + struct.pack("<I", 0)
    return _tiff(rng, body) if rng.random() < 0.7 else body


def _tiff(rng: random.Random, data: bytes) -> bytes:
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return data
    (first,) = struct.unpack_from(order + "I", data, 4)
    if first + 2 > len(data):
        return edit_bytes(rng, data)
    (count,) = struct.unpack_from(order + "H", data, first)
    entries = [list(struct.unpack_from(order + "HHI4s", data, first + 2 + 12 * i)) for i in range(count)
               if first + 14 + 12 * i <= len(data)]  # fmt: skip
    next_at = first + 2 + 12 * len(entries)
    next_ifd = struct.unpack_from(order + "I", data, next_at)[0] if next_at + 4 <= len(data) else 0
    for _ in range(rng.choice([1, 1, 2, 3])):
        kind = rng.randrange(8)
        entry = rng.choice(entries) if entries else None
        if kind == 0 and entry:
            entry[0] = rng.choice(_TIFF_TAGS)
        elif kind == 1 and entry:
            entry[1] = rng.choice([0, 1, 2, 3, 4, 5, 7, 11, 12, 13, 16, 17, 18, 255])
        elif kind == 2 and entry:
            entry[2] = rng.choice([0, 1, 2, 3, 4, 8, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF])
        elif kind == 3 and entry:
            value = rng.choice([*_U32, len(data), len(data) - 1, rng.randrange(len(data))])
            entry[3] = struct.pack(order + "I", value)
        elif kind == 4:
            size = _TIFF_TYPE_SIZES.get(entry[1], 1) if entry else 1
            value = struct.pack(order + "I", rng.choice([*_U32, rng.randrange(len(data))]))
            new = [rng.choice(_TIFF_TAGS), rng.choice([3, 4, 5, 2, 7]), rng.choice([1, 1, 2, 3, 4 // size]), value]
            entries.insert(rng.randrange(len(entries) + 1), new)
        elif kind == 5 and entries:
            del entries[rng.randrange(len(entries))]
        elif kind == 6 and entries:
            entries.insert(rng.randrange(len(entries) + 1), list(rng.choice(entries)))
        else:
            next_ifd = rng.choice([first, 8, 0, len(data), 0xFFFFFFFF])
    directory = struct.pack(order + "H", len(entries))
    directory += b"".join(struct.pack(order + "HHI4s", *entry) for entry in entries)
    directory += struct.pack(order + "I", next_ifd)
    if len(entries) == count:  # the directory fits where it was
        return data[:first] + directory + data[first + len(directory) :]
    at = len(data) + (len(data) & 1)
    return data[:4] + struct.pack(order + "I", at) + data[8:].ljust(at - 8, b"\0") + directory


# -- JPEG --------------------------------------------------------------------------------------------------------


def _jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(offset of the marker, length field) of each segment up to the first SOS."""
    segments, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker, (length,) = data[at + 1], struct.unpack_from(">H", data, at + 2)
        segments.append((at, length))
        if marker == 0xDA:
            break
        at += 2 + length
    return segments


def _jpeg(rng: random.Random, data: bytes) -> bytes:
    segments = _jpeg_segments(data)
    if not segments:
        return edit_bytes(rng, data)
    at, length = rng.choice(segments)
    kind = rng.randrange(6)
    out = bytearray(data)
    if kind == 0:
        out[at + 2 : at + 4] = struct.pack(">H", rng.choice([0, 1, 2, 3, length - 1, length + 1, 0xFFFF]) & 0xFFFF)
    elif kind == 1 and length > 2:
        out[at + 4 : at + 2 + length] = edit_bytes(rng, data[at + 4 : at + 2 + length], rng.choice([1, 2, 3]))
    elif kind == 2:
        del out[at : at + 2 + length]
    elif kind == 3:
        out[at:at] = data[at : at + 2 + length]
    elif kind == 4:
        exif = b"Exif\0\0" + _exif_tiff(rng)
        out[2:2] = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    else:
        sof = [s for s in segments if data[s[0] + 1] in (0xC0, 0xC1, 0xC2)]
        if sof:
            start = sof[0][0] + 4
            field = rng.choice([(0, 1), (1, 2), (3, 2), (5, 1), (7, 1), (8, 1)])
            value = rng.choice([0, 1, 2, 3, 4, 8, 12, 16, 0x11, 0x22, 0x44, 0xFF, 0xFFFF])
            at, size = start + field[0], field[1]
            out[at : at + size] = (value % (1 << (8 * size))).to_bytes(size, "big")
    return bytes(out)


_STRUCTURED = {b"\x89PNG\r\n\x1a\n": _png, b"II*\0": _tiff, b"MM\0*": _tiff, b"\xff\xd8": _jpeg}
