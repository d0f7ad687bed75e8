"""The one data model of f2dgs: a set of 2D Gaussians.

Conventions (the same as gmod's, see ``formats/g2d.md`` §10):

* ``xy`` is **normalized**: column 0 is x along the width, column 1 is y along the height. A Gaussian is
  centred on pixel-space point ``(x·W, y·H)``; pixel ``(row i, column j)`` is evaluated at the integer point
  ``(j, i)``, so ``xy = (0, 0)`` falls exactly on the top-left pixel.
* ``scale`` is the **standard deviation in pixels** along the two principal axes, at the reference size
  ``(height, width)`` the Gaussians were fitted at.
* ``rotation`` is in radians; axis 1 points along ``(cos θ, −sin θ)`` in (x right, y down) pixel space.
* ``color`` is RGB in [0, 1] nominally; it is not clamped (out-of-range values are legal).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor

from .representation import QuantizedGaussians, dequantize_arrays, resize_arrays

__all__ = ["Gaussians", "dequantize"]


@dataclass(frozen=True)
class Gaussians:
    """A set of N 2D Gaussians with RGB colours.

    Attributes:
        xy: ``[N, 2]`` normalized centres (x, y).
        scale: ``[N, 2]`` standard deviations in pixels along the two principal axes.
        rotation: ``[N]`` rotation angles in radians.
        color: ``[N, 3]`` RGB colours.
    """

    xy: Tensor
    scale: Tensor
    rotation: Tensor
    color: Tensor

    def __post_init__(self) -> None:
        n = self.xy.shape[0]
        expected = {"xy": (n, 2), "scale": (n, 2), "rotation": (n,), "color": (n, 3)}
        for name, shape in expected.items():
            actual = tuple(getattr(self, name).shape)
            if actual != shape:
                raise ValueError(f"Gaussians.{name} has shape {actual}, expected {shape}")

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Gaussians:
        """Return a copy with every tensor converted to ``dtype`` and/or moved to ``device``."""
        return Gaussians(**{f.name: getattr(self, f.name).to(device=device, dtype=dtype) for f in fields(self)})

    def detach(self) -> Gaussians:
        """Return a copy whose tensors are detached from any autograd graph."""
        return Gaussians(**{f.name: getattr(self, f.name).detach() for f in fields(self)})

    def select(self, index: Tensor) -> Gaussians:
        """Return the Gaussians picked by ``index`` (a boolean mask or an index tensor)."""
        return Gaussians(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def resized(self, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> Gaussians:
        """Express these Gaussians, fitted at ``src_hw``, for rendering at ``dst_hw`` (both ``(H, W)``), as CPU
        tensors (``representation.resize_arrays``; not differentiable)."""
        arrays = {f.name: getattr(self, f.name).detach().cpu().numpy() for f in fields(self)}
        return Gaussians(**{k: torch.from_numpy(v) for k, v in resize_arrays(arrays, src_hw, dst_hw).items()})


def dequantize(q: QuantizedGaussians) -> Gaussians:
    """Float32 CPU Gaussians from their codes, bit-exactly as ``formats/g2d.md`` §8 specifies."""
    return Gaussians(**{name: torch.from_numpy(values) for name, values in dequantize_arrays(q).items()})
