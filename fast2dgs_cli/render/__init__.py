"""Rendering: one interface, several interchangeable rasterizers.

```
Gaussians ──project()──► Projected (xys, conics, colours, radii, tile boxes) ──rasterizer──► [H, W, 3]
               torch, differentiable          ▲                                  torch | cpu | gmod
```

The cpu backend projects with ``cpu_projection.project_cpu``: the same ``Projected``, bit for bit, in one numba
kernel instead of some eighty torch operations. Every backend computes the same image (``formats/g2d.md``
§Rendering); they differ only in speed and in the device they run on. ``torch`` is the readable reference; ``cpu`` the fast multithreaded CPU kernels; ``gmod``
the CUDA rasterizer of the Image-GS team, used when CUDA and gmod are importable.
"""

from .backends import (
    Backend,
    BackendUnavailable,
    available_backends,
    blend_weights,
    load_kernels,
    render,
    resolve_backend,
)
from .projection import EPS, TILE, TOP_K, BlendWeights, Projected, project

__all__ = [
    "Backend",
    "BackendUnavailable",
    "BlendWeights",
    "EPS",
    "Projected",
    "TILE",
    "TOP_K",
    "available_backends",
    "blend_weights",
    "load_kernels",
    "project",
    "render",
    "resolve_backend",
]
