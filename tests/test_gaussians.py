"""The Gaussians data model: validation and resizing."""

from __future__ import annotations

import math

import pytest
import torch
from scenes import random_scene

from fast2dgs_cli.gaussians import Gaussians


def _covariance(g: Gaussians) -> torch.Tensor:
    c, s = torch.cos(g.rotation.double()), torch.sin(g.rotation.double())
    v1, v2 = g.scale[:, 0].double() ** 2, g.scale[:, 1].double() ** 2
    return torch.stack([v1 * c * c + v2 * s * s, (v2 - v1) * s * c, v1 * s * s + v2 * c * c], dim=1)


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="rotation"):
        Gaussians(torch.zeros(3, 2), torch.ones(3, 2), torch.zeros(4), torch.zeros(3, 3))


def test_uniform_resize_scales_std() -> None:
    g = random_scene(50, 0)
    bigger = g.resized((100, 150), (200, 300))
    assert torch.allclose(bigger.scale, 2 * g.scale)
    assert torch.equal(bigger.xy, g.xy) and torch.equal(bigger.rotation, g.rotation)


def test_anisotropic_resize_transforms_covariance() -> None:
    g = random_scene(50, 1).to(torch.float64)
    stretched = g.resized((100, 100), (50, 300))  # x ×3, y ×0.5
    expected = _covariance(g) * torch.tensor([9.0, 1.5, 0.25], dtype=torch.float64)
    assert torch.allclose(_covariance(stretched), expected, rtol=1e-9, atol=1e-9)


def test_select_and_detach() -> None:
    g = random_scene(10, 2)
    picked = g.select(torch.tensor([1, 3]))
    assert len(picked) == 2 and torch.equal(picked.color[1], g.color[3])
    assert not g.to(dtype=torch.float64).detach().xy.requires_grad
    assert math.isclose(float(g.to(dtype=torch.float64).xy[0, 0]), float(g.xy[0, 0]), rel_tol=1e-7)
