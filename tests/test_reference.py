"""The torch reference rasterizer against the brute-force oracle, and its gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from oracle import project_np, render_np
from scenes import crowded_scene, degenerate_scene, random_scene

from fast2dgs_cli.gaussians import Gaussians
from fast2dgs_cli.render import project, render
from fast2dgs_cli.render.reference import rasterize_reference

SIZES = [(16, 16), (23, 37), (40, 33)]


def _compare(g: Gaussians, height: int, width: int) -> float:
    ours = render(g, height, width, "torch").double().numpy()
    truth = render_np(g.xy.numpy(), g.scale.numpy(), g.rotation.numpy(), g.color.numpy(), height, width)
    return float(np.abs(ours - truth).max())


@pytest.mark.parametrize("height,width", SIZES)
@pytest.mark.parametrize("seed", [0, 1])
def test_random_scenes_match_oracle(height: int, width: int, seed: int) -> None:
    assert _compare(random_scene(60, seed), height, width) < 1e-5


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_degenerate_covariances_match_oracle(seed: int) -> None:
    assert _compare(degenerate_scene(seed), 29, 35) < 1e-5


def test_more_than_ten_candidates_match_oracle() -> None:
    g = crowded_scene(0)
    assert _compare(g, 32, 32) < 1e-5
    # the scene really exercises top-10 selection: the plain normalized sum differs
    everything = render_np(g.xy.numpy(), g.scale.numpy(), g.rotation.numpy(), g.color.numpy(), 32, 32)
    assert np.abs(everything).max() > 0.1


def test_projection_matches_spec() -> None:
    g = random_scene(200, 3)
    p = project(g, 41, 57)
    centre, conic, box = project_np(g.xy.numpy(), g.scale.numpy(), g.rotation.numpy(), 41, 57)
    np.testing.assert_allclose(p.xys.detach().numpy(), centre, rtol=0, atol=0)
    np.testing.assert_allclose(p.conics.detach().numpy(), conic, rtol=1e-4)  # libm sin/cos differ by an ulp
    np.testing.assert_array_equal(p.tile_box.numpy(), box.astype(np.int64))


def test_off_image_and_culled_gaussians_give_black() -> None:
    far = Gaussians(torch.tensor([[5.0, 5.0], [-3.0, 0.5]]), torch.ones(2, 2), torch.zeros(2), torch.ones(2, 3))
    assert render(far, 20, 20, "torch").abs().max() == 0
    flat = Gaussians(torch.tensor([[0.5, 0.5]]), torch.zeros(1, 2), torch.zeros(1), torch.ones(1, 3))
    assert render(flat, 20, 20, "torch").abs().max() == 0


def test_gaussian_centre_lands_on_integer_pixel() -> None:
    # xy = (j/W, i/H) puts the centre exactly on pixel (i, j): weight 1 there, so out = c/(1+ε) + others.
    g = Gaussians(torch.tensor([[3 / 20, 7 / 10]]), torch.full((1, 2), 0.5), torch.zeros(1), torch.ones(1, 3))
    image = render(g, 10, 20, "torch")
    assert torch.argmax(image[..., 0]).item() == 7 * 20 + 3
    assert image[7, 3, 0].item() == pytest.approx(1 / (1 + 1e-4), abs=1e-7)


def test_gradcheck_on_tiny_double_scene() -> None:
    g = random_scene(6, 4, spread=1.0, max_scale=3.0)
    base = project(g, 12, 13)
    xys = base.xys.double().detach().requires_grad_(True)
    conics = base.conics.double().detach().requires_grad_(True)
    colors = base.colors.double().detach().requires_grad_(True)

    def run(xys, conics, colors):
        projected = type(base)(xys, conics, colors, base.radii, base.tile_box, 12, 13)
        return rasterize_reference(projected)

    assert torch.autograd.gradcheck(run, (xys, conics, colors), eps=1e-6, atol=1e-6)


def test_gradcheck_through_projection() -> None:
    g = random_scene(5, 5, spread=1.0, max_scale=3.0)
    params = [t.double().detach().requires_grad_(True) for t in (g.xy, g.scale, g.rotation, g.color)]

    def run(xy, scale, rotation, color):
        return rasterize_reference(project(Gaussians(xy, scale, rotation, color), 12, 12))

    # the projection computes in float32 by contract, so gradcheck's double finite differences don't apply:
    # check that every parameter receives a finite, non-zero gradient through it
    out = run(*params).sum()
    grads = torch.autograd.grad(out, params)
    for grad in grads:
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


def test_exact_ties_go_to_the_lower_index() -> None:
    # 12 identical Gaussians but for their colour: only the first 10 (lowest indices) may be blended.
    xy = torch.tensor([[0.5, 0.5]]).repeat(12, 1)
    color = torch.zeros(12, 3)
    color[10:] = 1.0  # indices 10 and 11 must never show
    g = Gaussians(xy, torch.full((12, 2), 3.0), torch.zeros(12), color)
    assert render(g, 16, 16, "torch").abs().max() == 0
    assert _compare(g, 16, 16) < 1e-6
