"""Rendering: one interface, several interchangeable rasterizers.

```
Gaussians ──project()──► Projected (xys, conics, colours, radii, tile boxes) ──rasterizer──► [H, W, 3]
               torch, differentiable          ▲                                  torch | cpu | gmod
```

The cpu backend projects with ``cpu_projection.project_cpu``: the same ``Projected``, bit for bit, in one numba
kernel instead of some eighty torch operations. Every backend computes the same image (``formats/g2d.md`` §10);
they differ only in speed and in the device they run on (``backend_device``). ``torch`` is the readable
reference; ``cpu`` the fast multithreaded CPU kernels; ``gmod`` the CUDA rasterizer of the Image-GS team, used
when a probe finds it working (``gmod_unavailable_reason`` says why not).
"""

from .backends import (
    Backend,
    BackendUnavailable,
    available_backends,
    backend_device,
    blend_weights,
    gmod_unavailable_reason,
    load_kernels,
    render,
    resolve_backend,
)
from .projection import EPS, TILE, TOP_K, BlendWeights, Projected, project

__all__ = [
    "EPS",
    "TILE",
    "TOP_K",
    "Backend",
    "BackendUnavailable",
    "BlendWeights",
    "Projected",
    "available_backends",
    "backend_device",
    "blend_weights",
    "gmod_unavailable_reason",
    "load_kernels",
    "project",
    "render",
    "resolve_backend",
]
