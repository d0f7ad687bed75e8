"""Random test scenes covering the render contract's corner cases."""

from __future__ import annotations

import torch

from fast2dgs_cli.gaussians import Gaussians


def random_scene(n: int, seed: int, spread: float = 1.4, max_scale: float = 6.0) -> Gaussians:
    """``n`` Gaussians, some centred off-image (xy in [-(spread-1)/2, 1+(spread-1)/2]), random anisotropy."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * spread - (spread - 1) / 2
    scale = torch.rand(n, 2, generator=g) * max_scale + 0.3
    rotation = torch.rand(n, generator=g) * 6.3 - 3.15
    color = torch.rand(n, 3, generator=g)
    return Gaussians(xy, scale, rotation, color)


def degenerate_scene(seed: int) -> Gaussians:
    """Needle-thin, zero-area and huge Gaussians mixed with ordinary ones."""
    base = random_scene(24, seed)
    scale = base.scale.clone()
    scale[:2, 0] = 1e-3  # axis-aligned needles (exact in float32)
    scale[2:4, 0] = 0.1  # rotated slivers up to 1:60 (float32 σ still well conditioned)
    scale[4:6] = 0.0  # det == 0: culled
    scale[6:8] = 40.0  # bigger than the image
    rotation = base.rotation.clone()
    rotation[0], rotation[1] = 0.0, torch.pi / 2
    return Gaussians(base.xy, scale, rotation, base.color)


def crowded_scene(seed: int) -> Gaussians:
    """40 wide Gaussians on one spot, so every pixel has far more than 10 candidates."""
    g = torch.Generator().manual_seed(seed)
    xy = 0.5 + 0.05 * torch.randn(40, 2, generator=g)
    scale = 3.0 + 5.0 * torch.rand(40, 2, generator=g)
    return Gaussians(xy, scale, torch.rand(40, generator=g) * 3, torch.rand(40, 3, generator=g))
