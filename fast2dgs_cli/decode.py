"""Decoding: `.g2d` bytes → picture, at the stored size or any other.

```
decode_g2d:  bytes ─► read_header ─► limits ─► read_g2d ─► dequantize_arrays ─► resize_arrays
             ─► render_arrays (cpu) ─► [H, W, 3]
decode_picture: … resize_arrays ─► render_bands (cpu) ─► 8-bit band by band ─► encode_picture ─► file bytes
```
Decoding needs no network weights (everything it uses is in the file) and, on the cpu backend (``auto``'s
choice wherever numba is installed), no torch: numpy, numba and the container only. The torch and gmod backends
load torch when asked for.

A file cannot make the decoder do unbounded work (``formats/g2d.md`` §13): the header is checked first (no
more Gaussians than reference pixels, an output of at most ``max_pixels``), then the rasterizer's work
(``render.arrays.MAX_INTERSECTIONS``), each before anything is allocated for it.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np

from .choices import Backend
from .container import read_g2d, read_header
from .errors import RequestError
from .imageio import MAX_PIXELS, MAX_SIDE, encode_picture, to_rgb8
from .representation import dequantize_arrays, resize_arrays

__all__ = ["decode_g2d", "decode_picture", "output_size"]


def output_size(
    reference: tuple[int, int],
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
    max_pixels: int = MAX_PIXELS,
) -> tuple[int, int]:
    """The ``(height, width)`` to decode a file of ``reference`` ``(height, width)`` at: the stored size, a scale
    of it, or an explicit size (with one side given, the other follows the stored aspect ratio).

    Raises ``RequestError`` for a size below 1 or above ``MAX_SIDE`` on a side, or above ``max_pixels`` in all.
    """
    ref_h, ref_w = reference
    if scale is not None:
        if width is not None or height is not None:
            raise RequestError("give either --scale or --width/--height, not both")
        if not (math.isfinite(scale) and scale > 0):
            raise RequestError(f"scale must be a positive number, got {scale}")
        exact_h, exact_w = ref_h * scale, ref_w * scale
    elif width is None and height is None:
        exact_h, exact_w = ref_h, ref_w
    elif width is None:
        exact_h, exact_w = height, ref_w * height / ref_h
    elif height is None:
        exact_h, exact_w = ref_h * width / ref_w, width
    else:
        exact_h, exact_w = height, width
    if max(exact_h, exact_w) > MAX_SIDE:
        raise RequestError(f"output size {exact_w:.0f}x{exact_h:.0f} is larger than {MAX_SIDE} pixels per side")
    height, width = max(1, round(exact_h)), max(1, round(exact_w))
    if height * width > max_pixels:
        raise RequestError(
            f"output size {width}x{height} has {height * width} pixels; the limit is {max_pixels} (--max-pixels)"
        )
    return height, width


MAX_GAUSSIANS_PER_BYTE = 8
"""A file may hold at most this many Gaussians per byte of its size: fewer than one bit per Gaussian cannot
describe distinct Gaussians, only a flood of copies (``formats/g2d.md`` §13)."""


def check_count(width: int, height: int, count: int, size: int) -> None:
    """Refuse (``RequestError``) a file of ``size`` bytes with more Gaussians than reference pixels, or more than
    ``MAX_GAUSSIANS_PER_BYTE`` per byte (``formats/g2d.md`` §13)."""
    if count > width * height:
        raise RequestError(f"{count} Gaussians for {width}x{height} pixels: more than one per pixel is refused")
    if count > MAX_GAUSSIANS_PER_BYTE * size:
        raise RequestError(
            f"{count} Gaussians in {size} bytes: more than {MAX_GAUSSIANS_PER_BYTE} per byte of the file is refused"
        )


def _numpy_backend(backend: Backend) -> bool:
    """Whether ``backend`` renders on the torch-free cpu path: ``cpu``, and ``auto`` wherever numba is installed."""
    numba_here = importlib.util.find_spec("numba") is not None
    return numba_here and backend in (Backend.AUTO, Backend.CPU)


def _render(values: dict[str, np.ndarray], size: tuple[int, int], backend: Backend | str) -> np.ndarray:
    """Render dequantized values (already expressed for ``size``) to ``[H, W, 3]`` float32 on ``backend``."""
    backend = Backend(backend)
    if _numpy_backend(backend):
        from .render.arrays import render_arrays

        return render_arrays(values, *size)
    import torch

    from .gaussians import Gaussians
    from .render import render

    gaussians = Gaussians(**{name: torch.from_numpy(np.ascontiguousarray(v)) for name, v in values.items()})
    with torch.no_grad():
        return render(gaussians, *size, backend).cpu().numpy()


def decode_g2d(
    data: bytes,
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
    backend: Backend | str = Backend.AUTO,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Decode `.g2d` bytes to an ``[H, W, 3]`` float32 picture.

    Args:
        data: the file's bytes (untrusted: malformed input raises ``G2DError``).
        width, height, scale: the output size (``output_size``); the stored size by default.
        backend: the renderer backend.
        max_pixels: the largest output accepted (``RequestError`` beyond it, and for a file asking for too
            much work).
    """
    values, size = _values_at_size(data, width, height, scale, max_pixels)
    return _render(values, size, backend)


def _values_at_size(
    data: bytes, width: int | None, height: int | None, scale: float | None, max_pixels: int
) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """The file's dequantized Gaussians expressed for the output size, and that ``(height, width)``."""
    ref_w, ref_h, count = read_header(data)
    check_count(ref_w, ref_h, count, len(data))
    size = output_size((ref_h, ref_w), width, height, scale, max_pixels)
    values = dequantize_arrays(read_g2d(data).gaussians)
    if size != (ref_h, ref_w):
        values = resize_arrays(values, (ref_h, ref_w), size)
    return values, size


def decode_picture(
    data: bytes,
    suffix: str = ".png",
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
    backend: Backend | str = Backend.AUTO,
    max_pixels: int = MAX_PIXELS,
) -> tuple[bytes, tuple[int, int]]:
    """Decode `.g2d` bytes to an image file's bytes (its format from ``suffix``).

    Returns the image bytes and the ``(height, width)`` decoded at (``output_size``). On the torch-free path the
    picture is drawn in bands of rows, each converted to 8 bits as it comes: no float picture is held whole.
    """
    values, size = _values_at_size(data, width, height, scale, max_pixels)
    if not _numpy_backend(Backend(backend)):
        return encode_picture(_render(values, size, backend), suffix), size
    from .render.arrays import render_bands

    picture = np.empty((*size, 3), np.uint8)
    for top, band in render_bands(values, *size):
        picture[top : top + len(band)] = to_rgb8(band)
    return encode_picture(picture, suffix), size
