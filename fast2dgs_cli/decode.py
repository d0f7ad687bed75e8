"""Decoding: `.g2d` bytes → picture, at the stored size or any other.

```
decode_g2d:  bytes ─► read_g2d ─► dequantize_arrays ─► resize_arrays ─► render_arrays (cpu) ─► [H, W, 3]
```
Decoding needs no network weights (everything it uses is in the file) and, on the cpu backend, no torch:
numpy, numba and the container only. The torch and gmod backends load torch when asked for.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .choices import Backend
from .container import G2DFile, read_g2d
from .errors import RequestError
from .imageio import MAX_SIDE, encode_picture
from .representation import dequantize_arrays, resize_arrays

__all__ = ["decode_g2d", "decode_picture", "output_size"]


def output_size(
    file: G2DFile, width: int | None = None, height: int | None = None, scale: float | None = None
) -> tuple[int, int]:
    """The ``(height, width)`` to decode at: the stored size, a scale of it, or an explicit size.

    With only one of ``width``/``height`` the other follows the stored aspect ratio. Raises ``RequestError``
    for a size below 1 or above ``MAX_SIDE`` pixels on either side.
    """
    ref_h, ref_w = file.gaussians.height, file.gaussians.width
    if scale is not None:
        if width is not None or height is not None:
            raise RequestError("give either --scale or --width/--height, not both")
        if not scale > 0:
            raise RequestError(f"scale must be positive, got {scale}")
        height, width = max(1, round(ref_h * scale)), max(1, round(ref_w * scale))
    elif width is None and height is None:
        height, width = ref_h, ref_w
    elif width is None:
        width = max(1, round(ref_w * height / ref_h))
    elif height is None:
        height = max(1, round(ref_h * width / ref_w))
    if width < 1 or height < 1:
        raise RequestError(f"output size must be positive, got {width}x{height}")
    if max(width, height) > MAX_SIDE:
        raise RequestError(f"output size {width}x{height} is larger than {MAX_SIDE} pixels per side")
    return height, width


def _numpy_backend(backend: Backend) -> bool:
    """Whether ``backend`` renders on the torch-free cpu path (``auto`` without gmod installed, or ``cpu``)."""
    numba_here = importlib.util.find_spec("numba") is not None
    if backend is Backend.AUTO:
        return numba_here and importlib.util.find_spec("gmod") is None
    return backend is Backend.CPU and numba_here


def decode_g2d(
    data: bytes | G2DFile, size: tuple[int, int] | None = None, backend: Backend | str = Backend.AUTO
) -> np.ndarray:
    """Decode a `.g2d` file (its bytes, or the parsed file) to an ``[H, W, 3]`` float32 picture.

    Args:
        data: the file's bytes (untrusted: malformed input raises ``G2DError``) or a parsed ``G2DFile``.
        size: ``(height, width)`` to render at; the stored size by default.
        backend: the renderer backend.
    """
    file = read_g2d(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    ref = (file.gaussians.height, file.gaussians.width)
    height, width = size or ref
    values = dequantize_arrays(file.gaussians)
    if (height, width) != ref:
        values = resize_arrays(values, ref, (height, width))
    backend = Backend(backend)
    if _numpy_backend(backend):
        from .render.arrays import render_arrays

        return render_arrays(values, height, width)
    import torch

    from .gaussians import Gaussians
    from .render import render

    gaussians = Gaussians(**{name: torch.from_numpy(np.ascontiguousarray(v)) for name, v in values.items()})
    with torch.no_grad():
        return render(gaussians, height, width, backend).cpu().numpy()


def decode_picture(
    data: bytes,
    suffix: str = ".png",
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
    backend: Backend | str = Backend.AUTO,
) -> tuple[bytes, tuple[int, int]]:
    """Decode `.g2d` bytes to an image file's bytes (its format from ``suffix``), parsing the file once.

    Returns the image bytes and the ``(height, width)`` decoded at (``output_size``).
    """
    file = read_g2d(data)
    size = output_size(file, width=width, height=height, scale=scale)
    return encode_picture(decode_g2d(file, size, backend), suffix), size
