"""Reading input images and writing decoded ones.

Any format Pillow opens is accepted (PNG, JPEG, WebP, TIFF, BMP, …) and converted to RGB floats in [0, 1]:

* grayscale (8- or 16-bit) is replicated to three channels; 16-bit samples keep their precision;
* palette images are expanded through their palette;
* **alpha is discarded**: the colour channels are encoded as stored, i.e. the picture as it would look fully
  opaque (``LoadedImage.had_alpha`` tells the caller, which warns);
* an EXIF orientation tag is applied, so the picture is upright.

Images larger than ``MAX_SIDE`` on a side are refused before their pixels are decoded.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import F2dgsError

__all__ = [
    "MAX_PIXELS", "MAX_SIDE", "OUTPUT_FORMATS", "ImageError", "LoadedImage", "atomic_write", "encode_picture",
    "load_image", "to_rgb8",
]  # fmt: skip

MAX_SIDE = 16384
"""Largest accepted width or height in pixels (the `.g2d` container's limit too)."""
MAX_PIXELS = 40_000_000
"""Default largest picture, in pixels, read for encoding or written by decoding (``--max-pixels``): an encode
of this size fits in the memory of the machine the project targets (``docs/cli.md``)."""

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
                  ".bmp": "BMP", ".ppm": "PPM"}  # fmt: skip
"""Pillow format written for a decoded picture, by the output's suffix; any other name (or stdout) gets PNG."""
_SAVE_OPTIONS = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"lossless": True}, "PNG": {"compress_level": 3}}
"""Lossy formats at high fidelity: JPEG at quality 95 without chroma subsampling, WebP lossless; PNG at zlib
level 3, which writes a decoded picture in well under half the time of the default level 6 for a file a few
percent larger."""


class ImageError(F2dgsError, ValueError):
    """An input image that cannot be used (unreadable, empty, too large)."""


@dataclass(frozen=True)
class LoadedImage:
    """A decoded input image.

    Attributes:
        pixels: ``[H, W, 3]`` float32 RGB in [0, 1] (a NumPy array: this module needs no torch).
        had_alpha: whether an alpha channel was discarded.
    """

    pixels: np.ndarray
    had_alpha: bool


def load_image(source: str | os.PathLike[str] | bytes, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Decode an image file (a path, or its bytes) to RGB floats; raise ``ImageError`` if unusable.

    The size is checked from the file's header, before any pixel is decoded: at most ``MAX_SIDE`` on a side and
    ``max_pixels`` in all. Warnings of Pillow's (a corrupt EXIF block, its own pixel limit) are not printed.
    """
    stream: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    try:
        with stream, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's bomb warning comes after our own, stricter, size check
            with Image.open(stream) as opened:
                _check_size(opened.width, opened.height, max_pixels)
                image = ImageOps.exif_transpose(opened)
                image.load()
                return _to_rgb(image)
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageError(f"image is too large for Pillow: {error}") from None
    except UnidentifiedImageError as error:
        raise ImageError(f"not a readable image ({error.__class__.__name__})") from None
    except MemoryError:
        raise
    except Exception as error:  # Pillow's plugins raise many types on malformed input (TypeError, struct.error, …)
        raise ImageError(f"cannot decode image: {' '.join(str(error).split()) or type(error).__name__}") from None


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise ImageError(f"image has no pixels ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageError(f"image is {width}x{height}; the limit is {MAX_SIDE} pixels on a side")
    if width * height > max_pixels:
        pixels = width * height
        raise ImageError(f"image is {width}x{height} = {pixels} pixels; the limit is {max_pixels} (--max-pixels)")


def _to_rgb(image: Image.Image) -> LoadedImage:
    mode = image.mode
    had_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = np.asarray(image, dtype=np.float64) / 65535.0  # 16-bit samples (Pillow opens 16-bit gray as I;16 or I)
        rgb = np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=2)
    elif mode == "F":
        rgb = np.repeat(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)[..., None], 3, axis=2)
    else:
        if mode == "P" and had_alpha:
            image = image.convert("RGBA")
        rgb = np.asarray(image.convert("RGB"))
        # float32 division is correctly rounded: the same floats as dividing in float64 and rounding (every one
        # of the 256 values checked), without a float64 copy of the picture
        return LoadedImage(np.divide(rgb, np.float32(255.0), dtype=np.float32), had_alpha)
    return LoadedImage(np.ascontiguousarray(rgb, dtype=np.float32), had_alpha)


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` float in [0, 1] → uint8: ``round(clamp(x, 0, 1) · 255)`` in float32, ties to even."""
    if image.dtype == np.uint8:
        return image
    out = np.empty(image.shape, np.uint8)
    rows = max(1, _CONVERT_ELEMENTS // max(1, image[0].size))
    for top in range(0, image.shape[0], rows):  # in bands of rows: temporaries stay small at any size
        band = np.clip(image[top : top + rows].astype(np.float32), 0.0, 1.0) * np.float32(255.0)
        out[top : top + rows] = np.round(band)
    return out


_CONVERT_ELEMENTS = 1 << 22
"""Float values converted to 8 bits at a time by ``to_rgb8``."""


def encode_picture(image: np.ndarray, suffix: str = ".png") -> bytes:
    """Encode an ``[H, W, 3]`` float image as 8-bit RGB (values clamped to [0, 1] and rounded).

    Args:
        image: the picture.
        suffix: the output file's suffix, which picks the format (``OUTPUT_FORMATS``; PNG for any other).

    Raises:
        ImageError: this Pillow build cannot write the format.
    """
    kind = OUTPUT_FORMATS.get(suffix.lower(), "PNG")
    buffer = io.BytesIO()
    try:
        Image.fromarray(to_rgb8(image), mode="RGB").save(buffer, format=kind, **_SAVE_OPTIONS.get(kind, {}))
    except (KeyError, OSError) as error:
        raise ImageError(f"this Pillow build cannot write {kind} ({error})") from None
    return buffer.getvalue()


def atomic_write(path: Path, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then give it its name.

    A reader never sees a half-written file, and a failure (or an interrupt) leaves no file behind. Without
    ``overwrite`` the name is taken only if it is free at that very moment (a hard link, which fails on an
    existing name, even a dangling symbolic link): ``FileExistsError`` otherwise. The file gets the usual
    permissions of a new file (``0o666`` less the umask), not the private ``0o600`` of a temporary file.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=".f2dgs-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        if overwrite:
            os.replace(temporary, path)
        else:
            _link_or_create(temporary, path, data, 0o666 & ~umask)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _link_or_create(temporary: str, path: Path, data: bytes, mode: int) -> None:
    """Give the finished ``temporary`` the name ``path`` unless that name exists; where the file system has no
    hard links, create ``path`` exclusively and write it there."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
