"""Lloyd relaxation: nudging sampled positions toward an even, density-following spacing.

```
K distinct pixels ──┬─► sites (pixel centres) ──[nearest site of every pixel → centroid of its cell,
weights [H, W] ─────┘        weighted by weights²] × iterations ──► sites ──settle on free pixels──► K distinct pixels
```

The systematic sampler spreads its points along a Hilbert curve, which keeps consecutive points a patch
apart but leaves seams where the curve turns: some neighbours sit closer than the density asks and some
gaps stay open. A few iterations of Lloyd's algorithm (move every site to the centroid of its Voronoi cell)
even the spacing out, the way a centroidal Voronoi tessellation does. In 2D a centroidal tessellation of a
density ``ρ`` places sites with density ∝ ``ρ^{1/2}`` (Gersho's asymptotics, ``ρ^{d/(d+2)}``), so the
cells are weighted by ``weights²``: the sites keep the density the prior asked for and only their spacing
changes. Two iterations are used; their effect and cost are measured in docs/prior.md.

Settling: sites move to the pixel holding their centroid, in index order, and only if that pixel is free
(the pixels of sites that have not moved count as taken), so the result is again ``K`` distinct pixels.

The nearest site of a pixel is found exactly on a grid of buckets about one mean site spacing wide,
searching rings of buckets outward until no closer site can remain; ties go to the lower site index.
Every pixel's search writes only its own slot, and the centroid sums run in pixel order, so the result does
not depend on the number of threads.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import prange
from torch import Tensor

from ..jit import kernel

__all__ = ["RELAX_ITERATIONS", "relax_positions"]

RELAX_ITERATIONS = 2
"""Lloyd iterations applied to the prior's positions (more changed little: see docs/prior.md)."""


@kernel()
def _bucket(sites: np.ndarray, cell: float, grid_h: int, grid_w: int) -> tuple[np.ndarray, np.ndarray]:
    """Sites sorted by bucket (``order``) and each bucket's range ``start[b]:start[b+1]`` in it."""
    count = np.zeros(grid_h * grid_w + 1, dtype=np.int64)
    bucket_of = np.empty(len(sites), dtype=np.int64)
    for i in range(len(sites)):
        by = min(grid_h - 1, int(sites[i, 0] / cell))
        bx = min(grid_w - 1, int(sites[i, 1] / cell))
        bucket_of[i] = by * grid_w + bx
        count[bucket_of[i] + 1] += 1
    start = np.cumsum(count)
    fill = start[:-1].copy()
    order = np.empty(len(sites), dtype=np.int64)
    for i in range(len(sites)):  # ascending site index within every bucket
        order[fill[bucket_of[i]]] = i
        fill[bucket_of[i]] += 1
    return order, start


@kernel(parallel=True)
def _nearest_sites(sites: np.ndarray, height: int, width: int, cell: float) -> np.ndarray:
    """``[H, W]`` index of the site nearest to every pixel centre (ties: the lower index)."""
    grid_h, grid_w = math.ceil(height / cell), math.ceil(width / cell)
    order, start = _bucket(sites, cell, grid_h, grid_w)
    owner = np.empty((height, width), dtype=np.int64)
    for row in prange(height):
        y = row + 0.5
        by = min(grid_h - 1, int(y / cell))
        for col in range(width):
            x = col + 0.5
            bx = min(grid_w - 1, int(x / cell))
            best, best_d2 = -1, np.inf
            ring = 0
            while True:
                for gy in range(max(0, by - ring), min(grid_h, by + ring + 1)):
                    on_edge_row = gy == by - ring or gy == by + ring
                    step = 1 if on_edge_row else 2 * ring
                    gx = bx - ring
                    while gx <= bx + ring:
                        if 0 <= gx < grid_w:
                            bucket = gy * grid_w + gx
                            for slot in range(start[bucket], start[bucket + 1]):
                                site = order[slot]
                                dy, dx = sites[site, 0] - y, sites[site, 1] - x
                                d2 = dy * dy + dx * dx
                                if d2 < best_d2 or (d2 == best_d2 and site < best):
                                    best, best_d2 = site, d2
                        gx += step
                # any site beyond this ring is at least ``ring · cell`` away from a pixel of bucket (by, bx)
                covers_rows = by - ring <= 0 and by + ring >= grid_h - 1
                covers_grid = covers_rows and bx - ring <= 0 and bx + ring >= grid_w - 1
                if best_d2 <= (ring * cell) ** 2 or covers_grid:  # no site found yet: best_d2 is inf
                    break
                ring += 1
            owner[row, col] = best
    return owner


@kernel()
def _centroids(sites: np.ndarray, owner: np.ndarray, density: np.ndarray) -> np.ndarray:
    """Each site moved to the ``density``-weighted centroid of the pixel centres it owns (kept if massless)."""
    mass = np.zeros(len(sites))
    sum_y = np.zeros(len(sites))
    sum_x = np.zeros(len(sites))
    height, width = owner.shape
    for row in range(height):
        for col in range(width):
            site, w = owner[row, col], density[row, col]
            mass[site] += w
            sum_y[site] += w * (row + 0.5)
            sum_x[site] += w * (col + 0.5)
    moved = sites.copy()
    for site in range(len(sites)):
        if mass[site] > 0:
            moved[site, 0] = sum_y[site] / mass[site]
            moved[site, 1] = sum_x[site] / mass[site]
    return moved


@kernel()
def _settle(picked: np.ndarray, sites: np.ndarray, height: int, width: int) -> np.ndarray:
    """Move each site (in index order) from its pixel ``picked[i]`` to the pixel holding it, if that is free."""
    taken = np.zeros(height * width, dtype=np.bool_)
    for pixel in picked:
        taken[pixel] = True
    settled = picked.copy()
    for i in range(len(picked)):
        row = min(height - 1, max(0, int(sites[i, 0])))
        col = min(width - 1, max(0, int(sites[i, 1])))
        target = row * width + col
        if not taken[target]:
            taken[picked[i]] = False
            taken[target] = True
            settled[i] = target
    return settled


def relax_positions(picked: Tensor, weights: Tensor, iterations: int = RELAX_ITERATIONS) -> Tensor:
    """Lloyd-relax ``picked`` pixels (flat indices ``row·W + col``, distinct) over the density ``weights``.

    Args:
        picked: ``[K]`` int64 distinct flat pixel indices, e.g. from ``sample_positions``.
        weights: ``[H, W]`` non-negative density the positions were drawn from.
        iterations: Lloyd iterations (0 returns ``picked`` unchanged).

    Returns:
        ``[K]`` int64 distinct flat pixel indices, sorted.
    """
    height, width = weights.shape
    indices = picked.detach().cpu().numpy().astype(np.int64)
    if iterations <= 0 or len(indices) == 0:
        return torch.from_numpy(np.sort(indices))
    density = weights.detach().double().cpu().numpy() ** 2
    if not density.sum() > 0:
        density = np.ones_like(density)
    rows, cols = np.divmod(indices, width)
    sites = np.stack([rows + 0.5, cols + 0.5], axis=1)
    cell = max(1.0, math.sqrt(height * width / len(indices)))
    for _ in range(iterations):
        sites = _centroids(sites, _nearest_sites(sites, height, width, cell), density)
    return torch.from_numpy(np.sort(_settle(indices, sites, height, width)))
