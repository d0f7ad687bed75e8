"""The cpu backend's fused projection against ``project``: the same bits forward, a gradient at least as exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scenes import crowded_scene, degenerate_scene, random_scene

from fast2dgs_cli.gaussians import Gaussians
from fast2dgs_cli.render import project
from fast2dgs_cli.render.cpu_backend import project_cpu

FIELDS = ("xys", "conics", "colors", "radii", "tile_box")


def _non_finite_scene() -> Gaussians:
    """Ordinary Gaussians mixed with NaN and infinite centres, scales and angles, and enormous ones."""
    g = random_scene(12, 9)
    xy, scale, rotation = g.xy.clone(), g.scale.clone(), g.rotation.clone()
    xy[0, 0], xy[1, 1], xy[2] = float("nan"), float("inf"), -float("inf")
    scale[3, 0], scale[4, 1], scale[5] = float("nan"), float("inf"), 1e20
    rotation[6], rotation[7] = float("nan"), float("inf")
    xy[8], scale[8] = torch.tensor([1e9, -1e9]), torch.tensor([1e-20, 3.0])
    return Gaussians(xy, scale, rotation, g.color)


@pytest.mark.parametrize(
    "scene,height,width",
    [
        (random_scene(3000, 0), 130, 170),
        (random_scene(500, 1, spread=3.0, max_scale=40.0), 47, 33),
        (degenerate_scene(2), 29, 35),
        (crowded_scene(1), 32, 32),
        (_non_finite_scene(), 40, 50),
    ],
)
def test_every_field_equals_project_bit_for_bit(scene: Gaussians, height: int, width: int) -> None:
    ours, ref = project_cpu(scene, height, width), project(scene, height, width)
    for name in FIELDS:
        a, b = getattr(ours, name), getattr(ref, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert torch.equal(a, b) or torch.equal(torch.nan_to_num(a, 7.0), torch.nan_to_num(b, 7.0)), name
        assert torch.equal(a.isnan(), b.isnan()), name


def _projection_float64(xy: torch.Tensor, scale: torch.Tensor, theta: torch.Tensor, height: int, width: int):
    """``project``'s centres and conics, in float64 (the exact function the float32 ones round)."""
    c, s = torch.cos(theta), torch.sin(theta)
    var1, var2 = scale[:, 0] ** 2, scale[:, 1] ** 2
    sxx, syy, sxy = var1 * c * c + var2 * s * s, var1 * s * s + var2 * c * c, (var2 - var1) * s * c
    det = sxx * syy - sxy * sxy
    return xy * torch.tensor([width, height], dtype=xy.dtype), torch.stack([syy / det, -sxy / det, sxx / det], 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradients_are_at_least_as_close_to_float64_as_torch_autograd(seed: int) -> None:
    g, height, width = random_scene(2000, seed), 130, 170
    gen = torch.Generator().manual_seed(seed)
    w_xys, w_conics = torch.randn(2000, 2, generator=gen), torch.randn(2000, 3, generator=gen)
    grads = []
    for projector in (project_cpu, project):
        params = [t.detach().clone().requires_grad_(True) for t in (g.xy, g.scale, g.rotation)]
        p = projector(Gaussians(*params, g.color), height, width)
        ((p.xys * w_xys).sum() + (p.conics * w_conics).sum()).backward()
        grads.append([t.grad.double() for t in params])
    wide = [t.detach().double().requires_grad_(True) for t in (g.xy, g.scale, g.rotation)]
    xys, conics = _projection_float64(*wide, height, width)
    ((xys * w_xys.double()).sum() + (conics * w_conics.double()).sum()).backward()
    for name, ours, torch32, exact in zip(("xy", "scale", "rotation"), *grads, (t.grad for t in wide)):
        our_error, torch_error = (ours - exact).abs().max(), (torch32 - exact).abs().max()
        message = f"{name}: {our_error:.3g} vs torch {torch_error:.3g}"
        assert our_error <= torch_error + 1e-6 * exact.abs().max(), message


def test_a_radius_beyond_int32_culls_in_both_projections() -> None:
    """``3·sqrt(λ)`` not below 2³¹ culls the Gaussian (formats/g2d.md §10.1), whatever an out-of-range float
    converts to as an int32; up to the edge, r is drawn as before."""
    g = random_scene(10, 4)
    scale, rotation = g.scale.clone(), g.rotation.clone()
    scale[0] = math.exp(20.0)  # ln s = (20, 20): 3·sqrt(λ) ≈ 1.46e9 at the stored 16×16, 2.9e9 at 32×32
    edge = [np.float32(715827648.0 + 64.0 * k) for k in range(8)]  # consecutive float32s around 2³¹ / 3
    scale[2:], rotation[2:] = torch.tensor(edge)[:, None].expand(8, 2), 0.0
    stored = Gaussians(g.xy, scale, rotation, g.color)
    double = stored.resized((16, 16), (32, 32))
    ours, ref = project_cpu(double, 32, 32), project(double, 32, 32)
    for name in FIELDS:
        assert torch.equal(getattr(ours, name), getattr(ref, name)), name
    assert ref.radii[0] == 0 and not ref.tile_box[0].any() and bool((ref.radii[2:] == 0).all())
    # at 16×16, row 0 is drawn (its r may differ in the last place: torch's float32 sqrt is not correctly
    # rounded); the edge rows are isotropic at θ = 0, so λ = s² + sqrt(0.1) rounds to s² and 3·sqrt(λ) to 3·s
    extents = [np.float32(3.0) * np.sqrt(s * s) for s in edge]
    fits = [bool(e < 2.0**31) for e in extents]
    assert fits == [True] * 4 + [False] * 4
    for p in (project_cpu(stored, 16, 16), project(stored, 16, 16)):
        assert p.radii[0] > 1.4e9 and p.tile_box[0].tolist() == [0, 1, 0, 1]
        assert p.radii[2:].tolist() == [int(e) if f else 0 for e, f in zip(extents, fits)]


def test_culled_gaussians_get_zero_gradients() -> None:
    g = degenerate_scene(0)  # rows 4 and 5 have zero scale: det == 0
    params = [t.detach().clone().requires_grad_(True) for t in (g.xy, g.scale, g.rotation)]
    p = project_cpu(Gaussians(*params, g.color), 29, 35)
    assert bool((p.radii[4:6] == 0).all())
    (p.conics.sum() + p.xys.sum()).backward()
    assert bool((params[1].grad[4:6] == 0).all()) and bool((params[2].grad[4:6] == 0).all())
    assert torch.isfinite(params[1].grad).all() and torch.isfinite(params[2].grad).all()


def test_rejects_tensors_off_the_cpu() -> None:
    g = random_scene(3, 0)
    meta = Gaussians(g.xy.to("meta"), g.scale.to("meta"), g.rotation.to("meta"), g.color.to("meta"))
    with pytest.raises(ValueError, match="needs CPU tensors"):
        project_cpu(meta, 8, 8)
