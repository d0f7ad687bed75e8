"""Rendering without torch: dequantized Gaussians (NumPy arrays) → picture, on the cpu backend's kernels.

The decode path uses this so that decoding needs numpy, numba and Pillow only. ``cos θ`` and ``sin θ`` come
from NumPy here instead of torch, which ``formats/g2d.md`` §10 allows (they may differ in the last bit).
"""

from __future__ import annotations

import numpy as np

from ..errors import RequestError
from .cpu_kernels import Bins, forward
from .cpu_projection import project_arrays

__all__ = ["MAX_INTERSECTIONS", "render_arrays"]

MAX_INTERSECTIONS = 1 << 24
"""Default limit on (tile, Gaussian) intersections, the rasterizer's work and memory (``formats/g2d.md`` §13)."""


def render_arrays(
    values: dict[str, np.ndarray], height: int, width: int, max_intersections: int = MAX_INTERSECTIONS
) -> np.ndarray:
    """Render ``xy``, ``scale`` (std in pixels of this size), ``rotation`` and ``color`` to ``[H, W, 3]`` float32.

    Raises ``RequestError`` before rendering when the Gaussians meet more than ``max_intersections`` tiles in all.
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
    image, _, _ = forward(xys, conics, f32["color"], Bins(box, height, width), save=False)
    return image
