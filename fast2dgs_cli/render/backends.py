"""Backend registry and the ``render`` entry point."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import lru_cache

import torch
from torch import Tensor

from ..choices import Backend
from ..errors import SetupError
from ..gaussians import Gaussians
from . import gmod_backend
from .gmod_backend import gmod_unavailable_reason
from .projection import BlendWeights, Projected, project
from .reference import blend_weights_reference, rasterize_reference
from .tiles import TILE

__all__ = [
    "Backend",
    "BackendUnavailable",
    "available_backends",
    "backend_device",
    "blend_weights",
    "gmod_unavailable_reason",
    "load_kernels",
    "render",
    "resolve_backend",
]


class BackendUnavailable(SetupError, RuntimeError):
    """Raised when a backend that was asked for by name cannot run on this machine."""


def _cpu_ready() -> bool:
    return importlib.util.find_spec("numba") is not None


def available_backends() -> list[Backend]:
    """Backends that can run here, fastest first (never includes ``auto``)."""
    return list(_probe_backends())


@lru_cache(maxsize=1)
def _probe_backends() -> tuple[Backend, ...]:
    """Probe once per process (the gmod probe starts CUDA and renders on it)."""
    found = [Backend.GMOD] if gmod_unavailable_reason() is None else []
    if _cpu_ready():
        found.append(Backend.CPU)
    return (*found, Backend.TORCH)


def resolve_backend(backend: Backend | str) -> Backend:
    """Turn ``auto`` into a concrete backend; raise ``BackendUnavailable`` for one that cannot run here.

    ``auto`` is ``cpu`` where numba is installed, else ``torch``, never ``gmod``: gmod adds up its gradients with
    float atomics in an order that changes between runs, so a fit on it does not give the same bytes twice.
    Only a backend named ``gmod`` probes the GPU.
    """
    backend = Backend(backend)
    if backend is Backend.AUTO:
        return Backend.CPU if _cpu_ready() else Backend.TORCH
    if backend is Backend.CPU and not _cpu_ready():
        raise BackendUnavailable("backend 'cpu' is not available: it needs the numba package")
    reason = gmod_unavailable_reason() if backend is Backend.GMOD else None
    if reason is not None:
        raise BackendUnavailable(
            "backend 'gmod' is not available: it needs a CUDA GPU and the gmod package (see README, 'Installing "
            f"gmod'): {reason}"
        )
    return backend


def backend_device(backend: Backend | str) -> torch.device:
    """The device ``backend`` renders on, where fitting keeps its tensors: ``cuda`` for gmod, else the CPU.

    ``auto`` is resolved first; raises ``BackendUnavailable`` like ``resolve_backend``.
    """
    return gmod_backend.DEVICE if resolve_backend(backend) is Backend.GMOD else torch.device("cpu")


def load_kernels(backend: Backend | str = Backend.AUTO) -> float:
    """Compile (the first time on a machine) or load the cpu kernels that work with ``backend`` will use, now
    rather than inside the first timed or progress-reported call; return the seconds it took.

    The cpu kernels serve the ``cpu`` backend, and ``blend_weights`` for every backend but ``torch``; where they
    are not needed or not installed this does nothing and returns 0. Raises ``BackendUnavailable`` like
    ``resolve_backend``.
    """
    if resolve_backend(backend) is Backend.TORCH or not _cpu_ready():
        return 0.0
    from .cpu_backend import warm_up

    return warm_up()


def _rasterizer(backend: Backend) -> Callable[[Projected], Tensor]:
    if backend is Backend.GMOD:
        return gmod_backend.rasterize_gmod
    if backend is Backend.CPU:
        from .cpu_backend import rasterize_cpu

        return rasterize_cpu
    return rasterize_reference


def _projector(backend: Backend) -> Callable[[Gaussians, int, int], Projected]:
    if backend is Backend.CPU:
        from .cpu_backend import project_cpu

        return project_cpu
    return project


def render(
    gaussians: Gaussians,
    height: int,
    width: int,
    backend: Backend | str = Backend.AUTO,
    rows: tuple[int, int] | None = None,
) -> Tensor:
    """Render ``gaussians`` to an ``[H, W, 3]`` float32 image (differentiable on every backend).

    Args:
        gaussians: the Gaussians; ``scale`` is read in pixels of this ``height × width`` image.
        height: output height in pixels (≥ 1).
        width: output width in pixels (≥ 1).
        backend: a ``Backend`` or its name.
        rows: ``(top, bottom)``: only the pixel rows ``[top, bottom)`` of the picture (``top`` a multiple of
            ``TILE``), exactly as the whole picture has them; not differentiable. The cpu backend draws just
            those rows (its memory follows the rows); the others draw the whole picture and cut it.
    """
    _check_request(height, width, rows)
    chosen = resolve_backend(backend)
    if chosen is Backend.GMOD:
        gaussians = gaussians.to(device=gmod_backend.DEVICE)
    projected = _projector(chosen)(gaussians, height, width)
    if rows is None:
        return _rasterizer(chosen)(projected)
    if chosen is Backend.CPU:
        from .cpu_backend import rasterize_cpu

        return rasterize_cpu(projected, rows)
    with torch.no_grad():
        return _rasterizer(chosen)(projected)[rows[0] : rows[1]].contiguous()


def _check_request(height: int, width: int, rows: tuple[int, int] | None) -> None:
    """``ValueError`` unless the picture is at least 1×1 and ``rows`` is ``None`` or ``(top, bottom)`` with
    ``0 ≤ top < bottom ≤ height`` and ``top`` a multiple of ``TILE``."""
    if height < 1 or width < 1:
        raise ValueError(f"cannot render a {width}x{height} image")
    if rows is not None and not (0 <= rows[0] < rows[1] <= height and rows[0] % TILE == 0):
        raise ValueError(f"rows {rows} are not a band of a picture {height} rows high starting on a tile row")


def blend_weights(
    gaussians: Gaussians,
    height: int,
    width: int,
    backend: Backend | str = Backend.AUTO,
    rows: tuple[int, int] | None = None,
) -> BlendWeights:
    """Each pixel's selected Gaussians and normalized weights: the picture as a linear map of the colours.

    Computed on the CPU (the numba kernels, or the torch reference when they are not installed); every
    backend selects the same Gaussians, so the map holds for the picture any of them renders. ``backend``
    only chooses between ``cpu`` and ``torch``: ``gmod`` and ``auto`` mean the fastest CPU one. ``rows``:
    the pixels of those rows only, as in ``render``.
    """
    _check_request(height, width, rows)
    chosen = Backend(backend)
    if chosen is not Backend.TORCH:
        chosen = Backend.CPU if _cpu_ready() else Backend.TORCH
    projected = project(gaussians.to(device="cpu"), height, width)
    if chosen is Backend.CPU:
        from .cpu_backend import blend_weights_cpu

        return blend_weights_cpu(projected, rows)
    weights = blend_weights_reference(projected)
    if rows is None:
        return weights
    cut = slice(rows[0] * width, rows[1] * width)
    return BlendWeights(weights.ids[cut].contiguous(), weights.weights[cut].contiguous())
