"""Rendering without torch: dequantized Gaussians (NumPy arrays) → picture, on the cpu backend's kernels.

The decode path uses this so that decoding needs numpy, numba and Pillow only. ``cos θ`` and ``sin θ`` come
from NumPy here instead of torch, which ``formats/g2d.md`` §10 allows (they may differ in the last bit).

``render_bands`` draws the picture a band of rows at a time, each band exactly as the same rows of the whole
(a pixel depends only on its tile's candidates), so a caller that converts and keeps each band as it comes
holds one band of floats at a time, whatever the output size.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import RequestError
from .cpu_kernels import Bins, forward
from .cpu_projection import project_arrays
from .tiles import TILE

__all__ = ["BAND_PIXELS", "MAX_INTERSECTIONS", "render_arrays", "render_bands"]

MAX_INTERSECTIONS = 1 << 24
"""Default limit on (tile, Gaussian) intersections, the rasterizer's work and memory (``formats/g2d.md`` §13)."""
BAND_PIXELS = 1 << 16
"""About how many pixels ``render_bands`` draws at a time (whole tile rows, at least one)."""


def render_arrays(
    values: dict[str, np.ndarray], height: int, width: int, max_intersections: int = MAX_INTERSECTIONS
) -> np.ndarray:
    """Render ``xy``, ``scale`` (std in pixels of this size), ``rotation`` and ``color`` to ``[H, W, 3]`` float32.

    Raises ``RequestError`` before rendering when the Gaussians meet more than ``max_intersections`` tiles in all.
    """
    ((_, image),) = render_bands(values, height, width, max_intersections, rows=height)
    return image


def render_bands(
    values: dict[str, np.ndarray],
    height: int,
    width: int,
    max_intersections: int = MAX_INTERSECTIONS,
    rows: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """``render_arrays``'s picture as ``(first row, [rows, W, 3] float32)`` bands from the top, of ``rows`` rows
    (a multiple of ``TILE``; by default about ``BAND_PIXELS`` pixels); every band reuses one buffer, so keep a
    converted copy, not the array.

    The limit is checked (``RequestError``) before the first band is drawn.
    """
    if height < 1 or width < 1:
        raise ValueError(f"cannot render a {width}x{height} image")
    f32 = {name: np.ascontiguousarray(values[name], dtype=np.float32) for name in ("xy", "scale", "rotation", "color")}
    cos, sin = np.cos(f32["rotation"]), np.sin(f32["rotation"])
    xys, conics, _, box = project_arrays(f32["xy"], f32["scale"], cos, sin, height, width)
    del cos, sin
    work = int(np.sum((box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])))
    if work > max_intersections:
        raise RequestError(
            f"rendering at {width}x{height} needs {work} tile-Gaussian intersections; the limit is {max_intersections}"
        )
    rows = max(TILE, BAND_PIXELS // width // TILE * TILE) if rows is None else -(-rows // TILE) * TILE
    buffer = np.empty((min(rows, height), width, 3), np.float32)
    for top in range(0, height, rows):
        count = min(rows, height - top)
        first, last = top // TILE, (top + count + TILE - 1) // TILE
        meets = np.flatnonzero((box[:, 2] < last) & (box[:, 3] > first) & (box[:, 1] > box[:, 0]))
        bins = Bins(box[meets], count, width, top)
        image, _, _ = forward(xys[meets], conics[meets], f32["color"][meets], bins, save=False, out=buffer[:count])
        yield top, image
