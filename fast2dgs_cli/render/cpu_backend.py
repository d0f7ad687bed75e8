"""The cpu backend: the numba kernels of ``cpu_kernels`` and ``cpu_projection`` as differentiable torch ops.

``project_cpu`` computes ``projection.project``'s ``Projected`` bit for bit and ``rasterize_cpu`` the reference
image; both carry exact gradients through autograd. The kernels compile on first use and are cached on disk
(``warm_up`` pays that cost up front).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..gaussians import Gaussians
from . import cpu_kernels
from .cpu_kernels import Bins
from .cpu_projection import project_arrays, project_backward
from .projection import BlendWeights, Projected

__all__ = ["blend_weights_cpu", "project_cpu", "rasterize_cpu", "warm_up"]


def _numpy(t: Tensor) -> np.ndarray:
    """A NumPy view of ``t`` for the kernels (of a contiguous copy where ``t`` is not contiguous)."""
    return t.detach().contiguous().numpy()


def _bins(projected: Projected, rows: tuple[int, int] | None = None) -> Bins:
    """The tile lists of the whole picture, or of the pixel rows ``[top, bottom)`` (``top`` on a tile row)."""
    box = projected.tile_box.detach().cpu().to(torch.int64).contiguous().numpy()
    if rows is None:
        return Bins(box, projected.height, projected.width)
    top, bottom = rows
    return Bins(box, bottom - top, projected.width, top)


class _ProjectCpu(torch.autograd.Function):
    """Autograd wrapper: ``(xy, scale, cos θ, sin θ)`` → ``(xys, conics, radii, tile_box)``."""

    @staticmethod
    def forward(ctx, xy: Tensor, scale: Tensor, cos: Tensor, sin: Tensor, height: int, width: int):  # type: ignore[override]
        arrays = project_arrays(_numpy(xy), _numpy(scale), _numpy(cos), _numpy(sin), height, width)
        xys, conics, radii, box = (torch.from_numpy(a) for a in arrays)
        ctx.save_for_backward(scale, cos, sin)
        ctx.size = height, width
        ctx.mark_non_differentiable(radii, box)
        return xys, conics, radii, box

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_xys: Tensor, grad_conics: Tensor, _radii: None, _box: None):  # type: ignore[override]
        scale, cos, sin = ctx.saved_tensors
        n = len(cos)
        grad_xys = grad_xys if grad_xys is not None else torch.zeros(n, 2)
        grad_conics = grad_conics if grad_conics is not None else torch.zeros(n, 3)
        grads = project_backward(
            _numpy(scale), _numpy(cos), _numpy(sin), *ctx.size, _numpy(grad_xys.float()), _numpy(grad_conics.float())
        )
        return (*(torch.from_numpy(g) for g in grads), None, None)


def project_cpu(gaussians: Gaussians, height: int, width: int) -> Projected:
    """``project(gaussians, height, width)`` for CPU tensors, bit for bit, in one kernel (differentiable)."""
    if any(t.device.type != "cpu" for t in (gaussians.xy, gaussians.scale, gaussians.rotation)):
        raise ValueError("the cpu backend needs CPU tensors; move the Gaussians to the CPU first")
    xy, scale = gaussians.xy.float(), gaussians.scale.float()
    theta = gaussians.rotation.float()
    cos, sin = torch.cos(theta), torch.sin(theta)
    xys, conics, radii, box = _ProjectCpu.apply(xy, scale, cos, sin, height, width)
    return Projected(xys, conics, gaussians.color.float(), radii, box, height, width)


class _RasterizeCpu(torch.autograd.Function):
    """Autograd wrapper: forward saves which pixels selected each intersection; backward is its exact gradient."""

    @staticmethod
    def forward(ctx, xys: Tensor, conics: Tensor, colors: Tensor, projected: Projected) -> Tensor:  # type: ignore[override]
        bins = _bins(projected)
        image, hits, norm = cpu_kernels.forward(_numpy(xys), _numpy(conics), _numpy(colors), bins, save=True)
        image = torch.from_numpy(image)
        ctx.save_for_backward(xys, conics, colors, image)
        ctx.bins, ctx.hits, ctx.norm = bins, hits, norm
        return image

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_image: Tensor):  # type: ignore[override]
        xys, conics, colors, image = ctx.saved_tensors
        grads = cpu_kernels.backward(
            _numpy(xys), _numpy(conics), _numpy(colors), ctx.bins, ctx.hits, ctx.norm, _numpy(image),
            _numpy(grad_image.to(torch.float32)),
        )  # fmt: skip
        return (*(torch.from_numpy(g) for g in grads), None)


def rasterize_cpu(projected: Projected, rows: tuple[int, int] | None = None) -> Tensor:
    """Render ``projected`` to an ``[H, W, 3]`` float32 image with the numba kernels (differentiable).

    Gradients flow to ``projected.xys``, ``.conics`` and ``.colors``; a call that needs none (no input
    requires grad, or grad mode is off) saves no backward state. With ``rows = (top, bottom)`` (``top`` on a
    tile row) it draws only those rows, exactly as the whole picture has them (not differentiable).
    """
    tensors = (projected.xys, projected.conics, projected.colors)
    if any(t.device.type != "cpu" for t in tensors):
        raise ValueError("the cpu backend needs CPU tensors; move the Gaussians to the CPU first")
    xys, conics, colors = (t.to(torch.float32) for t in tensors)
    if rows is None and torch.is_grad_enabled() and any(t.requires_grad for t in (xys, conics, colors)):
        return _RasterizeCpu.apply(xys, conics, colors, projected)
    image, _, _ = cpu_kernels.forward(_numpy(xys), _numpy(conics), _numpy(colors), _bins(projected, rows), save=False)
    return torch.from_numpy(image)


@torch.no_grad()
def blend_weights_cpu(projected: Projected, rows: tuple[int, int] | None = None) -> BlendWeights:
    """The selected Gaussians of every pixel (of the pixel rows ``rows``, when given) and their normalized
    weights (``BlendWeights``), as the forward kernel selects them."""
    xys, conics, colors = (_numpy(t.to(torch.float32)) for t in (projected.xys, projected.conics, projected.colors))
    ids, weights = cpu_kernels.selection_weights(xys, conics, colors, _bins(projected, rows))
    return BlendWeights(torch.from_numpy(ids), torch.from_numpy(weights))


def warm_up() -> float:
    """Compile (first run on this machine) or load (later runs) every kernel, the fused projection's too; return
    the seconds it took."""
    start = time.perf_counter()
    xy = torch.tensor([[0.25, 0.5], [0.475, 0.25], [0.9, 0.1]], requires_grad=True)
    scale = torch.tensor([[1.5, 2.0], [2.0, 2.0], [1.0, 3.0]], requires_grad=True)
    rotation = torch.tensor([0.3, 0.0, 1.2], requires_grad=True)
    colors = torch.rand(3, 3, requires_grad=True)
    projected = project_cpu(Gaussians(xy, scale, rotation, colors), 12, 20)
    rasterize_cpu(projected).sum().backward()
    with torch.no_grad():
        rasterize_cpu(projected)
    blend_weights_cpu(projected)
    return time.perf_counter() - start
