"""The cpu backend's projection: ``projection.project`` fused into one numba kernel, with its exact gradient.

``project`` is the source of truth for the pixel conventions; this module computes the same ``Projected``
fields from NumPy arrays with the same float32 operations in the same order (equal but for the last bit of
torch's ``sqrt``, which is not always correctly rounded: ``formats/g2d.md`` §10 allows it), in one parallel
kernel instead of many small torch operations. ``cos θ`` and ``sin θ`` are inputs, so the caller decides how
they round (``cpu_backend`` uses torch's, as ``project`` does). Like ``cpu_kernels``, the kernels compile on
first use and are cached on disk.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ..jit import kernel
from .tiles import TILE, tile_grid

__all__ = ["project_arrays", "project_backward"]

_F = np.float32


@kernel(parallel=True, error_model="numpy")
def _project_kernel(xy, scale, cos, sin, width, height, tiles_x, tiles_y, xys, conics, radii, box):  # pragma: no cover
    """``project``'s float32 arithmetic per Gaussian: centres, conics, radii, tile boxes (``formats/g2d.md`` §10.1)."""
    tiles_x, tiles_y = _F(tiles_x), _F(tiles_y)
    for g in prange(xy.shape[0]):
        px, py = xy[g, 0] * _F(width), xy[g, 1] * _F(height)
        xys[g, 0], xys[g, 1] = px, py
        sxx, syy, sxy, det = _covariance(scale[g, 0], scale[g, 1], cos[g], sin[g])
        alive = det != _F(0.0)
        if alive:
            conics[g, 0], conics[g, 1], conics[g, 2] = syy / det, -sxy / det, sxx / det
        else:
            conics[g, 0], conics[g, 1], conics[g, 2] = _F(0.0), _F(0.0), _F(0.0)
        b = _F(0.5) * (sxx + syy)
        spread = b * b - det
        if spread < _F(0.1):  # torch.clamp(min=0.1), which keeps NaN  # noqa: PLR1730
            spread = _F(0.1)
        extent = _F(3.0) * np.sqrt(b + np.sqrt(spread))
        alive = alive and extent < _F(2.0**31)  # False for NaN: r must fit int32, else culled (formats/g2d.md §10.1)
        radius = np.int32(np.ceil(extent)) if alive else np.int32(0)
        r = _F(radius) / _F(TILE)
        tx0 = _tile_edge(px / _F(TILE) - r, tiles_x)
        tx1 = _tile_edge(px / _F(TILE) + r + _F(1.0), tiles_x)
        ty0 = _tile_edge(py / _F(TILE) - r, tiles_y)
        ty1 = _tile_edge(py / _F(TILE) + r + _F(1.0), tiles_y)
        if tx1 <= tx0 or ty1 <= ty0 or not alive:
            tx0, tx1, ty0, ty1, radius = 0, 0, 0, 0, 0
        box[g, 0], box[g, 1], box[g, 2], box[g, 3] = tx0, tx1, ty0, ty1
        radii[g] = radius


@kernel(inline="always")
def _covariance(s1, s2, c, s):  # pragma: no cover - compiled
    """``(Σxx, Σyy, Σxy, det)`` in float32, in ``project``'s operation order."""
    var1, var2 = s1 * s1, s2 * s2
    sxx = var1 * c * c + var2 * s * s
    syy = var1 * s * s + var2 * c * c
    sxy = (var2 - var1) * s * c
    return sxx, syy, sxy, sxx * syy - sxy * sxy


@kernel(inline="always")
def _tile_edge(value, limit):  # pragma: no cover - compiled
    """``trunc(value).clamp(0, limit)`` with NaN mapped to 0, as an int64 (``projection._tile_box``)."""
    if value != value:  # NaN  # noqa: PLR0124
        return 0
    return np.int64(min(max(np.trunc(value), _F(0.0)), limit))


@kernel(parallel=True, error_model="numpy")
def _project_backward_kernel(
    scale, cos, sin, width, height, grad_xys, grad_conics, grad_xy, grad_scale, grad_cos, grad_sin
):  # pragma: no cover
    """Chain ``dL/dxys`` and ``dL/dconics`` back to ``xy``, ``scale``, ``cos θ`` and ``sin θ`` (float64 from the
    forward's float32 covariance).

    With ``v = s²``, ``Σxx = v1·c² + v2·s²``, ``Σyy = v1·s² + v2·c²``, ``Σxy = (v2 − v1)·s·c``, ``det = ΣxxΣyy − Σxy²``
    and ``(A, B, C) = (Σyy, −Σxy, Σxx)/det``: ``dL/ddet = −(gA·A + gB·B + gC·C)/det``, then ``dL/dΣyy = gA/det +
    dL/ddet·Σxx``, ``dL/dΣxx = gC/det + dL/ddet·Σyy``, ``dL/dΣxy = −gB/det − 2·dL/ddet·Σxy``, and the products
    rule down to ``v``, ``c``, ``s``. Gaussians with ``det == 0`` have constant (zero) conics: no gradient.
    """
    for g in prange(scale.shape[0]):
        grad_xy[g, 0] = grad_xys[g, 0] * _F(width)
        grad_xy[g, 1] = grad_xys[g, 1] * _F(height)
        sxx32, syy32, sxy32, det32 = _covariance(scale[g, 0], scale[g, 1], cos[g], sin[g])
        if det32 == _F(0.0):
            grad_scale[g, 0], grad_scale[g, 1], grad_cos[g], grad_sin[g] = 0.0, 0.0, 0.0, 0.0
            continue
        sxx, syy, sxy, det = np.float64(sxx32), np.float64(syy32), np.float64(sxy32), np.float64(det32)
        c, s = np.float64(cos[g]), np.float64(sin[g])
        s1, s2 = np.float64(scale[g, 0]), np.float64(scale[g, 1])
        var1, var2 = s1 * s1, s2 * s2
        ga, gb, gc = np.float64(grad_conics[g, 0]), np.float64(grad_conics[g, 1]), np.float64(grad_conics[g, 2])
        g_det = -(ga * syy - gb * sxy + gc * sxx) / (det * det)
        g_syy = ga / det + g_det * sxx
        g_sxx = gc / det + g_det * syy
        g_sxy = -gb / det - 2.0 * g_det * sxy
        g_var1 = g_sxx * c * c + g_syy * s * s - g_sxy * s * c
        g_var2 = g_sxx * s * s + g_syy * c * c + g_sxy * s * c
        grad_scale[g, 0], grad_scale[g, 1] = 2.0 * s1 * g_var1, 2.0 * s2 * g_var2
        grad_cos[g] = 2.0 * c * (g_sxx * var1 + g_syy * var2) + g_sxy * (var2 - var1) * s
        grad_sin[g] = 2.0 * s * (g_sxx * var2 + g_syy * var1) + g_sxy * (var2 - var1) * c


def project_arrays(
    xy: np.ndarray, scale: np.ndarray, cos: np.ndarray, sin: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``projection.project`` on contiguous float32 arrays: ``(xys [N, 2], conics [N, 3], radii [N] int32,
    tile_box [N, 4] int64)``, bit for bit for the same ``cos θ`` and ``sin θ``."""
    n = xy.shape[0]
    xys, conics = np.empty((n, 2), _F), np.empty((n, 3), _F)
    radii, box = np.empty(n, np.int32), np.empty((n, 4), np.int64)
    _project_kernel(xy, scale, cos, sin, width, height, *tile_grid(height, width), xys, conics, radii, box)
    return xys, conics, radii, box


def project_backward(
    scale: np.ndarray, cos: np.ndarray, sin: np.ndarray, height: int, width: int, grad_xys: np.ndarray,
    grad_conics: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Chain ``dL/dxys`` and ``dL/dconics`` to ``(dL/dxy, dL/dscale, dL/dcos, dL/dsin)`` (float32 arrays)."""
    n = cos.shape[0]
    grads = np.empty((n, 2), _F), np.empty_like(scale), np.empty_like(cos), np.empty_like(sin)
    _project_backward_kernel(scale, cos, sin, width, height, grad_xys, grad_conics, *grads)
    return grads
