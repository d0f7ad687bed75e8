"""Pure-PyTorch reference rasterizer: the readable oracle of the render contract.

For every pixel ``q = (j, i)`` of a tile, over the Gaussians binned to that tile (ascending index):

* ``d = p − q``, ``σ = ½(A·dx² + C·dy²) + B·dx·dy``; a candidate with ``σ < 0`` or non-finite ``σ`` is skipped;
* ``w = exp(−σ)``; the ``TOP_K`` largest ``w`` are kept, ties going to the lower Gaussian index;
* ``out = Σ w·c / (Σ w + EPS)``; a pixel with no valid candidate is 0.

The selection is made without gradient; autograd through ``w`` and ``c`` then gives the exact gradient of
the formula for the selected set (``docs/renderer.md``). Memory stays bounded: tiles are processed in chunks of at
most ``_CHUNK_ELEMENTS`` (pixel, candidate) pairs, never a dense pixels × Gaussians tensor.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from .projection import EPS, TILE, TOP_K, BlendWeights, Projected, TileBins, bin_tiles

__all__ = ["blend_weights_reference", "rasterize_reference"]

_CHUNK_ELEMENTS = 1 << 21


def rasterize_reference(projected: Projected) -> Tensor:
    """Render ``projected`` to an ``[H, W, 3]`` float32 image, differentiably."""
    bins = bin_tiles(projected)
    pieces = []
    for start, stop, widest in _tile_chunks(bins):
        ids, weights = _select_tiles(projected, bins, start, stop, widest)
        colours = _rows(projected.colors, ids.clamp_min(0))  # [n, 256, k, 3]
        total = weights.sum(-1, keepdim=True)
        pieces.append(((weights[..., None] * colours).sum(-2) / (total + EPS)).to(projected.xys.device))
    return _untile(pieces, bins, projected, projected.colors.new_zeros(0, TILE * TILE, 3))


@torch.no_grad()
def blend_weights_reference(projected: Projected) -> BlendWeights:
    """The selected Gaussians of every pixel and their normalized weights (``BlendWeights``)."""
    bins = bin_tiles(projected)
    ids_pieces, weight_pieces = [], []
    for start, stop, widest in _tile_chunks(bins):
        ids, weights = _select_tiles(projected, bins, start, stop, widest)
        weights = weights / (weights.sum(-1, keepdim=True) + EPS)
        pad = TOP_K - ids.shape[-1]
        ids_pieces.append(torch.nn.functional.pad(ids, (0, pad), value=-1).cpu())
        weight_pieces.append(torch.nn.functional.pad(weights, (0, pad)).cpu())
    ids = _untile(ids_pieces, bins, projected, torch.zeros(0, TILE * TILE, TOP_K, dtype=torch.int64))
    weights = _untile(weight_pieces, bins, projected, torch.zeros(0, TILE * TILE, TOP_K))
    pixels = projected.height * projected.width
    return BlendWeights(ids.reshape(pixels, TOP_K).to(torch.int32), weights.reshape(pixels, TOP_K).float())


def _rows(table: Tensor, index: Tensor) -> Tensor:
    """``table[index]`` through ``index_select``, whose backward (``index_add``) sums in a fixed order on the
    CPU; plain indexing's backward accumulates with atomics there, so gradients would vary from run to run."""
    return torch.index_select(table, 0, index.reshape(-1)).reshape(*index.shape, table.shape[-1])


def _tile_chunks(bins: TileBins) -> Iterator[tuple[int, int, int]]:
    """Runs ``(start, stop, widest candidate list)`` of row-major tiles holding at most ``_CHUNK_ELEMENTS``
    (pixel, candidate) pairs (a single tile may hold more)."""
    n_tiles = bins.tiles_x * bins.tiles_y
    counts = (bins.tile_start[1:] - bins.tile_start[:-1]).tolist()
    start = 0
    while start < n_tiles:
        stop, widest = start, 0
        while stop < n_tiles:
            widest_next = max(widest, counts[stop])
            if stop > start and (stop + 1 - start) * TILE * TILE * widest_next > _CHUNK_ELEMENTS:
                break
            widest, stop = widest_next, stop + 1
        yield start, stop, widest
        start = stop


def _untile(pieces: list[Tensor], bins: TileBins, projected: Projected, empty: Tensor) -> Tensor:
    """Per-tile rows ``[tiles, 256, C]`` (row-major tiles, row-major pixels) → ``[H, W, C]``."""
    tiles = torch.cat(pieces, dim=0) if pieces else empty
    channels = tiles.shape[-1]
    image = tiles.reshape(bins.tiles_y, bins.tiles_x, TILE, TILE, channels).permute(0, 2, 1, 3, 4)
    image = image.reshape(bins.tiles_y * TILE, bins.tiles_x * TILE, channels)
    return image[: projected.height, : projected.width]


def _select_tiles(projected: Projected, bins: TileBins, start: int, stop: int, widest: int) -> tuple[Tensor, Tensor]:
    """Each pixel's selection in tiles ``start..stop-1``: ``(ids, w)``, both ``[stop-start, 256, min(K, widest)]``.

    ``ids`` are Gaussian indices (−1 for an empty slot) in descending weight, ``w = exp(−σ)`` (0 when empty),
    differentiable with respect to the centres and conics.
    """
    n = stop - start
    if widest == 0:
        return torch.full((n, TILE * TILE, 0), -1, dtype=torch.int64), projected.xys.new_zeros(n, TILE * TILE, 0)
    first = bins.tile_start[start:stop]
    count = bins.tile_start[start + 1 : stop + 1] - first
    slot = torch.arange(widest)
    present = slot[None, :] < count[:, None]  # [n, M]
    flat = (first[:, None] + slot[None, :]).clamp_max(max(len(bins.gaussian_ids) - 1, 0))
    cand = torch.where(present, bins.gaussian_ids[flat], torch.zeros_like(flat))  # [n, M]

    tile_id = torch.arange(start, stop)
    ty, tx = tile_id // bins.tiles_x, tile_id % bins.tiles_x
    local = torch.arange(TILE * TILE)
    qx = (tx[:, None] * TILE + local[None, :] % TILE).float()  # [n, 256]
    qy = (ty[:, None] * TILE + local[None, :] // TILE).float()

    xys, conics = _rows(projected.xys, cand), _rows(projected.conics, cand)  # [n, M, 2], [n, M, 3]
    dx = xys[:, None, :, 0] - qx[:, :, None]  # [n, 256, M]
    dy = xys[:, None, :, 1] - qy[:, :, None]
    a, b, c = conics[:, None, :, 0], conics[:, None, :, 1], conics[:, None, :, 2]
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
    valid = present[:, None, :] & torch.isfinite(sigma) & (sigma >= 0)
    weight = torch.exp(-torch.where(valid, sigma, torch.zeros_like(sigma)))
    weight = torch.where(valid, weight, torch.zeros_like(weight))

    with torch.no_grad():
        key = torch.where(valid, weight, torch.full_like(weight, -1.0))
        key_sorted, order = torch.sort(key, dim=-1, descending=True, stable=True)
        k = min(TOP_K, widest)
        order, chosen = order[..., :k], key_sorted[..., :k] >= 0
    top_w = torch.gather(weight, -1, order) * chosen  # [n, 256, k]
    top_ids = torch.gather(cand[:, None, :].expand(-1, TILE * TILE, -1), -1, order)
    return torch.where(chosen, top_ids, torch.full_like(top_ids, -1)), top_w
