"""Rendering: one interface, several interchangeable rasterizers.

```
Gaussians ──project()──► Projected (xys, conics, colours, radii, tile boxes) ──rasterizer──► [H, W, 3]
               torch, differentiable          ▲                                  torch | cpu | gmod
```

Every backend computes the same image (``formats/g2d.md`` §10); they differ only in speed and in the device
they run on. ``torch`` is the readable reference; ``cpu`` the fast multithreaded numba kernels (also usable
without torch: ``render.arrays.render_arrays``); ``gmod`` the CUDA rasterizer of the Image-GS team, used when
named and a probe finds it working (``gmod_unavailable_reason`` says why not). The torch-based names below
load on first use, so importing this package (as the decoder does) never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from .tiles import EPS, TILE, TOP_K

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

_LAZY = {
    "Backend": ".backends",
    "BackendUnavailable": ".backends",
    "available_backends": ".backends",
    "backend_device": ".backends",
    "gmod_unavailable_reason": ".backends",
    "blend_weights": ".backends",
    "load_kernels": ".backends",
    "render": ".backends",
    "resolve_backend": ".backends",
    "BlendWeights": ".projection",
    "Projected": ".projection",
    "project": ".projection",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
