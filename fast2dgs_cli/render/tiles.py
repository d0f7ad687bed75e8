"""The renderer's fixed constants and tile grid (torch-free: shared by every backend and the decoder)."""

from __future__ import annotations

__all__ = ["EPS", "TILE", "TOP_K", "tile_grid"]

TILE = 16
"""Side of a square tile in pixels; a pixel's candidates are the Gaussians binned to its tile."""
TOP_K = 10
"""Number of largest-weight candidates blended per pixel."""
EPS = 1e-4
"""Added to the weight sum before normalizing: ``out = Σ w·c / (Σ w + EPS)``."""


def tile_grid(height: int, width: int) -> tuple[int, int]:
    """Return ``(tiles_x, tiles_y)`` = ``(ceil(W/16), ceil(H/16))``."""
    return (width + TILE - 1) // TILE, (height + TILE - 1) // TILE
