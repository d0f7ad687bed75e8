"""The one data model of f2dgs: a set of 2D Gaussians.

Conventions (the same as gmod's, see ``formats/g2d.md`` §Rendering):

* ``xy`` is **normalized**: column 0 is x along the width, column 1 is y along the height. A Gaussian is
  centred on pixel-space point ``(x·W, y·H)``; pixel ``(row i, column j)`` is evaluated at the integer point
  ``(j, i)``, so ``xy = (0, 0)`` falls exactly on the top-left pixel.
* ``scale`` is the **standard deviation in pixels** along the two principal axes, at the reference size
  ``(height, width)`` the Gaussians were fitted at.
* ``rotation`` is in radians; axis 1 points along ``(cos θ, −sin θ)`` in (x right, y down) pixel space.
* ``color`` is RGB in [0, 1] nominally; it is not clamped (out-of-range values are legal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

__all__ = ["Gaussians"]


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
        """Express these Gaussians, fitted at ``src_hw``, for rendering at ``dst_hw`` (both ``(H, W)``).

        Positions are normalized and stay. Each covariance is stretched by ``diag(W'/W, H'/H)``; for a
        uniform resize that just multiplies the scales, otherwise the stretched covariance is
        re-diagonalized exactly.
        """
        sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
        if math.isclose(sx, sy, rel_tol=1e-9):
            return replace(self, scale=self.scale * sx)
        cos, sin = torch.cos(self.rotation), torch.sin(self.rotation)
        s1, s2 = self.scale[:, 0] ** 2, self.scale[:, 1] ** 2
        cxx = (s1 * cos**2 + s2 * sin**2) * sx * sx
        cyy = (s1 * sin**2 + s2 * cos**2) * sy * sy
        cxy = (s2 - s1) * sin * cos * sx * sy
        # Axis 1 of the renderer's rotation is (cos θ, −sin θ): recover θ and the two variances from Σ.
        theta = 0.5 * torch.atan2(-2 * cxy, cxx - cyy)
        c, s = torch.cos(theta), torch.sin(theta)
        var1 = cxx * c**2 - 2 * cxy * c * s + cyy * s**2
        var2 = cxx * s**2 + 2 * cxy * c * s + cyy * c**2
        scale = torch.stack([var1.clamp_min(0).sqrt(), var2.clamp_min(0).sqrt()], dim=1)
        return replace(self, scale=scale, rotation=theta)
