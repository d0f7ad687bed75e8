"""CUDA backend: gmod's top-K normalized rasterizer (Image-GS's ``gsplat``), imported lazily.

Only gmod's *rasterizer* is called. The projection (centres, conics, radii, tile boxes) comes from
``projection.project`` in torch, so gradients to scale and rotation are exact (gmod's own projection backward
is not, gmod-spec §5.3). Hazards handled here (gmod-spec §7, §10):

* ``num_tiles_hit`` is derived from our ceil-based tile boxes, never from a floor tile grid;
* zero Gaussians or zero tile intersections short-circuit to a black image (gmod's own path breaks there),
  keeping the graph so backward still works;
* inputs are float32, contiguous, on CUDA; colours have ≤ 12 channels;
* the availability probe never imports ``gmod.gsplat.cuda._backend`` unless a compiled ``csrc`` extension
  exists, because that import may start a JIT build and overwrites ``TORCH_CUDA_ARCH_LIST`` (which breaks
  sm_90); the variable is restored afterwards.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch
from torch import Tensor

from .projection import TILE, Projected

__all__ = ["gmod_available", "rasterize_gmod"]


@functools.lru_cache(maxsize=1)
def gmod_available() -> bool:
    """Whether gmod's compiled CUDA rasterizer can run here (probed once, without triggering a build)."""
    if not torch.cuda.is_available():
        return False
    try:
        if importlib.util.find_spec("gmod.gsplat.csrc") is None:
            return False
        saved = os.environ.get("TORCH_CUDA_ARCH_LIST")
        try:
            from gmod.gsplat.cuda import _backend  # type: ignore[import-not-found]
        finally:
            if saved is None:
                os.environ.pop("TORCH_CUDA_ARCH_LIST", None)
            else:
                os.environ["TORCH_CUDA_ARCH_LIST"] = saved
        return getattr(_backend, "_C", None) is not None
    except (ImportError, OSError, RuntimeError):
        return False


def rasterize_gmod(projected: Projected) -> Tensor:
    """Render ``projected`` with gmod on CUDA: ``[H, W, 3]`` float32, differentiable in xys, conics, colours."""
    from gmod.gsplat.rasterize_sum import rasterize_gaussians_sum  # type: ignore[import-not-found]

    height, width = projected.height, projected.width
    colors = projected.colors.float().contiguous().cuda()
    if colors.shape[1] > 12:
        raise ValueError(f"gmod renders at most 12 channels, got {colors.shape[1]}")
    box = projected.tile_box.cuda()
    tiles_hit = ((box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])).to(torch.int32).contiguous()
    if colors.shape[0] == 0 or int(tiles_hit.sum()) == 0:
        blank = colors.new_zeros(height, width, colors.shape[1])
        return blank + 0.0 * (colors.sum() + projected.xys.sum() + projected.conics.sum())
    return rasterize_gaussians_sum(
        projected.xys.float().contiguous().cuda(),
        projected.radii.to(torch.int32).contiguous().cuda(),
        projected.conics.float().contiguous().cuda(),
        tiles_hit,
        colors,
        height,
        width,
        BLOCK_H=TILE,
        BLOCK_W=TILE,
        topk_norm=True,
    )
