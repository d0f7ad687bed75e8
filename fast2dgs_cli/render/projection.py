"""Projection and tile binning: the single source of truth for f2dgs's pixel conventions.

Every backend renders from what this module computes, in float32, exactly as gmod's
``project_gaussians_2d_scale_rot`` does (``formats/g2d.md`` §10.1):

* centre ``p = (x·W, y·H)`` in pixels; pixel ``(i, j)`` is evaluated at the integer point ``(j, i)``;
* ``Σ = R·diag(s1², s2²)·Rᵀ`` with ``R = [[cos θ, sin θ], [−sin θ, cos θ]]``;
* conic ``(A, B, C) = (Σyy, −Σxy, Σxx) / det``; a Gaussian with ``det == 0`` is culled;
* radius ``r = ceil(3·sqrt(b + sqrt(max(0.1, b² − det))))`` with ``b = (Σxx + Σyy)/2``;
* it touches every 16×16 tile meeting the square ``[p − r, p + r]²``.

The projection is plain differentiable torch, so gradients to scale and rotation are exact whichever
rasterizer runs afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..gaussians import Gaussians
from .tiles import EPS, TILE, TOP_K, tile_grid

__all__ = ["EPS", "TILE", "TOP_K", "BlendWeights", "Projected", "TileBins", "bin_tiles", "project", "tile_grid"]



@dataclass(frozen=True)
class Projected:
    """Screen-space form of a set of Gaussians, as every rasterizer consumes it.

    Attributes:
        xys: ``[N, 2]`` float32 centres in pixels (differentiable).
        conics: ``[N, 3]`` float32 inverse covariance ``(A, B, C)`` (differentiable).
        colors: ``[N, 3]`` float32 colours (differentiable).
        radii: ``[N]`` int32 screening radius in pixels, 0 for culled Gaussians.
        tile_box: ``[N, 4]`` int64 ``(tx0, tx1, ty0, ty1)``, half-open tile ranges (empty when culled).
        height: image height in pixels.
        width: image width in pixels.
    """

    xys: Tensor
    conics: Tensor
    colors: Tensor
    radii: Tensor
    tile_box: Tensor
    height: int
    width: int


@dataclass(frozen=True)
class BlendWeights:
    """The picture as a linear function of the colours: pixel ``p = y·W + x`` is ``Σ_k weights[p, k] ·
    colour[ids[p, k]]``, its ``TOP_K`` selected Gaussians each weighted by ``w / (Σw + EPS)``.

    Attributes:
        ids: ``[H·W, TOP_K]`` int32 selected Gaussians, in selection order (largest weight first); −1 marks an
            empty slot.
        weights: ``[H·W, TOP_K]`` float32 normalized weights, 0 in empty slots.
    """

    ids: Tensor
    weights: Tensor


@dataclass(frozen=True)
class TileBins:
    """Per-tile candidate lists, each in ascending Gaussian index.

    Attributes:
        gaussian_ids: ``[n_isect]`` int64 Gaussian index of each (tile, Gaussian) intersection, grouped by tile.
        tile_start: ``[TX·TY + 1]`` int64 offsets: tile ``t`` owns ``gaussian_ids[tile_start[t]:tile_start[t+1]]``.
        tiles_x: number of tile columns, ``ceil(W / 16)``.
        tiles_y: number of tile rows, ``ceil(H / 16)``.
    """

    gaussian_ids: Tensor
    tile_start: Tensor
    tiles_x: int
    tiles_y: int


def project(gaussians: Gaussians, height: int, width: int) -> Projected:
    """Project Gaussians to pixel space for an ``height × width`` image (float32, differentiable)."""
    xy = gaussians.xy.float()
    scale = gaussians.scale.float()
    theta = gaussians.rotation.float()
    xys = xy * torch.tensor([width, height], dtype=torch.float32, device=xy.device)

    cos, sin = torch.cos(theta), torch.sin(theta)
    var1, var2 = scale[:, 0] * scale[:, 0], scale[:, 1] * scale[:, 1]
    sxx = var1 * cos * cos + var2 * sin * sin
    syy = var1 * sin * sin + var2 * cos * cos
    sxy = (var2 - var1) * sin * cos
    det = sxx * syy - sxy * sxy
    alive = det != 0
    safe_det = torch.where(alive, det, torch.ones_like(det))
    conics = torch.stack([syy / safe_det, -sxy / safe_det, sxx / safe_det], dim=1)
    conics = torch.where(alive[:, None], conics, torch.zeros_like(conics))

    with torch.no_grad():
        b = 0.5 * (sxx + syy)
        lam = b + torch.sqrt(torch.clamp(b * b - det, min=0.1))
        extent = 3.0 * torch.sqrt(lam)
        alive = alive & (extent < 2.0**31)  # False for NaN: r must fit int32, else culled (formats/g2d.md §10.1)
        radii = torch.ceil(torch.where(alive, extent, 0.0)).to(torch.int32)
        radii = torch.where(alive, radii, torch.zeros_like(radii))
        tile_box = _tile_box(xys.detach(), radii, height, width)
        empty = (tile_box[:, 1] <= tile_box[:, 0]) | (tile_box[:, 3] <= tile_box[:, 2]) | ~alive
        tile_box[empty] = 0
        radii = torch.where(empty, torch.zeros_like(radii), radii)
    return Projected(xys, conics, gaussians.color.float(), radii, tile_box, height, width)


def _tile_box(xys: Tensor, radii: Tensor, height: int, width: int) -> Tensor:
    """Half-open tile ranges ``(tx0, tx1, ty0, ty1)`` exactly as gmod's ``get_tile_bbox`` (float32 math)."""
    tiles_x, tiles_y = tile_grid(height, width)
    r = radii.float() / TILE
    px, py = xys[:, 0] / TILE, xys[:, 1] / TILE
    tx0 = torch.trunc(px - r).clamp(0, tiles_x)
    tx1 = torch.trunc(px + r + 1).clamp(0, tiles_x)
    ty0 = torch.trunc(py - r).clamp(0, tiles_y)
    ty1 = torch.trunc(py + r + 1).clamp(0, tiles_y)
    box = torch.stack([tx0, tx1, ty0, ty1], dim=1)
    box = torch.nan_to_num(box, nan=0.0)
    return box.to(torch.int64)


def bin_tiles(projected: Projected) -> TileBins:
    """Build the per-tile candidate lists (ascending Gaussian index within each tile)."""
    tiles_x, tiles_y = tile_grid(projected.height, projected.width)
    box = projected.tile_box.cpu()
    span_x = box[:, 1] - box[:, 0]
    span_y = box[:, 3] - box[:, 2]
    counts = span_x * span_y
    n_isect = int(counts.sum())
    gauss = torch.repeat_interleave(torch.arange(box.shape[0]), counts)
    first = torch.cumsum(counts, 0) - counts
    local = torch.arange(n_isect) - torch.repeat_interleave(first, counts)
    sx = span_x[gauss].clamp_min(1)
    tx = box[gauss, 0] + local % sx
    ty = box[gauss, 2] + local // sx
    tile_id = ty * tiles_x + tx
    order = torch.sort(tile_id, stable=True).indices
    per_tile = torch.bincount(tile_id, minlength=tiles_x * tiles_y)
    tile_start = torch.zeros(tiles_x * tiles_y + 1, dtype=torch.int64)
    tile_start[1:] = torch.cumsum(per_tile, 0)
    return TileBins(gauss[order].contiguous(), tile_start, tiles_x, tiles_y)
