"""CUDA backend: gmod's top-K normalized rasterizer (Image-GS's ``gsplat``), imported lazily.

Only gmod's *rasterizer* is called. Centres, conics, radii and tile boxes come from ``projection.project`` in
torch, so the gradients to scale and rotation are exact (gmod's own projection backward is not). What the
adapter guards against, read in gmod's source (the picture it must draw: ``formats/g2d.md`` §10):

* ``num_tiles_hit`` comes from our ceil-based tile boxes (``tile_counts``), never from a floor tile grid;
* zero Gaussians or zero tile intersections give the background, black, without calling gmod (its own path
  breaks there), still in the autograd graph with zero gradients, also when a centre is inf or NaN;
* inputs are float32, contiguous, on ``DEVICE``; colours have at most ``MAX_CHANNELS`` channels;
* gmod's ``cuda/_backend.py`` falls into a JIT build when the compiled extension fails to import (it deletes
  its build folder and compiles for minutes) and sets ``TORCH_CUDA_ARCH_LIST`` for the whole process to a list
  without sm_90. ``import_gmod`` imports the compiled extension first and stops if it fails, then imports
  ``_backend`` and restores the variable;
* an extension built without this GPU's architecture imports fine but its kernels never run: the probe
  (``gmod_unavailable_reason``) renders one Gaussian and refuses a black or non-finite picture.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import torch
from torch import Tensor

from ..gaussians import Gaussians
from .projection import TILE, Projected, project

__all__ = [
    "DEVICE",
    "MAX_CHANNELS",
    "gmod_available",
    "gmod_unavailable_reason",
    "import_gmod",
    "rasterize_gmod",
    "tile_counts",
]

DEVICE = torch.device("cuda")
"""The device gmod renders on; ``render`` moves the Gaussians there (tests substitute the CPU)."""

MAX_CHANNELS = 12
"""gmod's per-thread colour arrays hold this many channels; more would overflow them."""

_ARCH_LIST = "TORCH_CUDA_ARCH_LIST"


@contextmanager
def _arch_list_kept() -> Iterator[None]:
    """Restore ``TORCH_CUDA_ARCH_LIST`` (or its absence) on leaving, whatever gmod set it to meanwhile."""
    saved = os.environ.get(_ARCH_LIST)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(_ARCH_LIST, None)
        else:
            os.environ[_ARCH_LIST] = saved


def import_gmod() -> ModuleType:
    """gmod's ``gsplat`` package with its compiled extension loaded, never built.

    Raises whatever importing the compiled ``gmod.gsplat.csrc`` raises (an ABI mismatch: ``ImportError``),
    before gmod's ``_backend`` could start its JIT build; ``ImportError`` if ``_backend`` loaded no extension.
    """
    importlib.import_module("gmod.gsplat.csrc")
    with _arch_list_kept():
        backend = importlib.import_module("gmod.gsplat.cuda._backend")
    if getattr(backend, "_C", None) is None:
        raise ImportError("gmod.gsplat.cuda._backend loaded no extension")
    return importlib.import_module("gmod.gsplat")


@functools.lru_cache(maxsize=1)
def gmod_unavailable_reason() -> str | None:
    """Why gmod cannot render here, or ``None`` when it can (probed once per process, without building gmod)."""
    if not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False)"
    if importlib.util.find_spec("gmod") is None:
        return "the gmod package is not importable (see README, 'Installing gmod')"
    try:
        import_gmod()
    except Exception as error:  # noqa: BLE001 - a broken binary fails in many ways; each means "not usable"
        return f"gmod's compiled extension does not load: {type(error).__name__}: {error}"
    return _test_render_problem()


def gmod_available() -> bool:
    """Whether gmod's compiled CUDA rasterizer works here (``gmod_unavailable_reason`` is ``None``)."""
    return gmod_unavailable_reason() is None


def _test_render_problem() -> str | None:
    """Render one Gaussian at 16×16 through gmod; what is wrong with the picture, or ``None``."""
    scene = Gaussians(torch.tensor([[0.5, 0.5]]), torch.tensor([[3.0, 3.0]]), torch.zeros(1), torch.full((1, 3), 0.5))
    try:
        with _arch_list_kept():
            image = rasterize_gmod(project(scene.to(device=DEVICE), TILE, TILE))
            _raise_pending_cuda_error()
            image = image.detach().cpu()
    except Exception as error:  # noqa: BLE001 - whatever a broken kernel raises, it cannot render
        return f"gmod's test render failed: {type(error).__name__}: {error}"
    if not bool(torch.isfinite(image).all()):
        return "gmod's test render is not finite"
    if not bool((image != 0).any()):
        return (
            "gmod's test render is black: its kernels did not run (an extension built without this GPU's "
            "architecture? rebuild it with TORCH_CUDA_ARCH_LIST including it)"
        )
    return None


def _raise_pending_cuda_error() -> None:
    """Surface (and clear) a kernel launch error gmod left pending: torch checks it at its next launch."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
        torch.ones(1, device=DEVICE).add_(1)


def tile_counts(tile_box: Tensor) -> Tensor:
    """``[N]`` int32 number of tiles each Gaussian touches, from ``[N, 4]`` half-open ``(tx0, tx1, ty0, ty1)``."""
    return ((tile_box[:, 1] - tile_box[:, 0]) * (tile_box[:, 3] - tile_box[:, 2])).to(torch.int32).contiguous()


def rasterize_gmod(projected: Projected) -> Tensor:
    """Render ``projected`` with gmod: ``[H, W, C]`` float32 on ``DEVICE``, differentiable in xys, conics, colours."""
    colors = _kernel_input(projected.colors)
    if colors.shape[1] > MAX_CHANNELS:
        raise ValueError(f"gmod renders at most {MAX_CHANNELS} channels, got {colors.shape[1]}")
    tiles_hit = tile_counts(projected.tile_box.to(DEVICE))
    if colors.shape[0] == 0 or int(tiles_hit.sum()) == 0:
        return _background(projected)
    return import_gmod().rasterize_gaussians_sum(
        _kernel_input(projected.xys),
        projected.radii.to(device=DEVICE, dtype=torch.int32).contiguous(),
        _kernel_input(projected.conics),
        tiles_hit,
        colors,
        projected.height,
        projected.width,
        BLOCK_H=TILE,
        BLOCK_W=TILE,
        topk_norm=True,
    )


def _kernel_input(values: Tensor) -> Tensor:
    return values.to(device=DEVICE, dtype=torch.float32).contiguous()


def _background(projected: Projected) -> Tensor:
    """The picture without any tile intersection: 0 everywhere, joined to the autograd graph so ``backward``
    works and gives zero gradients. Empty slices join it: ``0 * x.sum()`` would be NaN for an inf centre."""
    anchor = projected.xys[:0].sum() + projected.conics[:0].sum() + projected.colors[:0].sum()
    blank = torch.zeros(projected.height, projected.width, projected.colors.shape[1], device=DEVICE)
    return blank + anchor.to(DEVICE)
