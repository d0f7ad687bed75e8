"""Initialization and fine-tuning on a natural image."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fast2dgs_cli.encoder.fit import FitConfig, finetune
from fast2dgs_cli.encoder.init import init_gaussians
from fast2dgs_cli.imageio import load_image
from fast2dgs_cli.metrics import psnr, to_uint8
from fast2dgs_cli.render import available_backends, render

SAMPLE = Path(__file__).parent / "data" / "kodim23-384x256.png"


@pytest.fixture(scope="module")
def crop() -> torch.Tensor:
    """A 128×128 natural crop (the parrots' heads: edges and flat areas)."""
    return load_image(SAMPLE).pixels[40:168, 150:278].contiguous()


def _psnr(image: torch.Tensor, target: torch.Tensor) -> float:
    return psnr(to_uint8(image.detach()), to_uint8(target))


def test_init_draws_distinct_pixels_deterministically(crop: torch.Tensor) -> None:
    a = init_gaussians(crop, 4000, seed=7)
    b = init_gaussians(crop, 4000, seed=7)
    c = init_gaussians(crop, 4000, seed=8)
    assert torch.equal(a.xy, b.xy) and torch.equal(a.scale, b.scale)
    assert not torch.equal(a.xy, c.xy)
    pixels = (a.xy * 128).round().long()
    assert len({(int(x), int(y)) for x, y in pixels}) == 4000  # without replacement


def test_init_reads_colours_and_adapts_scale(crop: torch.Tensor) -> None:
    g = init_gaussians(crop, 1000, seed=0)
    cols, rows = (g.xy[:, 0] * 128).round().long(), (g.xy[:, 1] * 128).round().long()
    assert torch.equal(g.color, crop[rows, cols])
    assert g.scale.min() < 0.6 * g.scale.max()  # not a constant: follows the local density
    sparse = init_gaussians(crop, 200, seed=0)
    assert sparse.scale.mean() > g.scale.mean()


def test_init_favours_edges(crop: torch.Tensor) -> None:
    from fast2dgs_cli.encoder.init import gradient_energy

    energy = gradient_energy(crop)
    g = init_gaussians(crop, 1500, seed=0)
    cols, rows = (g.xy[:, 0] * 128).round().long(), (g.xy[:, 1] * 128).round().long()
    assert energy[rows, cols].mean() > 2 * energy.mean()


def test_init_rejects_impossible_budgets(crop: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="cannot place"):
        init_gaussians(crop, 128 * 128 + 1)


def test_finetuning_raises_psnr_by_6db(crop: torch.Tensor) -> None:
    backend = available_backends()[0]
    g = init_gaussians(crop, 1000, seed=0)
    before = _psnr(render(g, 128, 128, backend), crop)
    result = finetune(g, crop, FitConfig(steps=300), backend=backend)
    after = _psnr(render(result.gaussians, 128, 128, backend), crop)
    assert result.steps == 300
    assert after - before >= 6.0, (before, after)


def test_time_budget_stops_early(crop: torch.Tensor) -> None:
    g = init_gaussians(crop, 200, seed=0)
    result = finetune(g, crop, FitConfig(steps=10_000, time_budget=0.5), backend="torch")
    assert 0 < result.steps < 10_000
    assert result.seconds < 5.0


def test_adam_matches_torch_optim() -> None:
    from fast2dgs_cli.encoder.fit import _Adam

    torch.manual_seed(0)
    ours = torch.randn(64, requires_grad=True)
    theirs = ours.detach().clone().requires_grad_(True)
    reference = torch.optim.Adam([theirs], lr=0.05)
    adam = _Adam([(ours, 0.05)])
    for _ in range(30):
        reference.zero_grad()
        (theirs**3 - theirs).sum().backward()
        reference.step()
        (ours**3 - ours).sum().backward()
        adam.step()
        assert ours.grad is None
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_quantized_tail_fits_colours_to_the_decoded_geometry(crop: torch.Tensor) -> None:
    from fast2dgs_cli.encoder.quantize import BitDepths, dequantize, quantize

    bits = BitDepths(xy=9, scale=5, rotation=5, color=8)
    g = init_gaussians(crop, 600, seed=0)
    plain = finetune(g, crop, FitConfig(steps=40, quantized_share=0.0), backend="cpu", bits=bits)
    tail = finetune(g, crop, FitConfig(steps=40, quantized_share=0.25), backend="cpu", bits=bits)
    assert (plain.steps, tail.steps) == (40, 50)
    assert torch.equal(plain.gaussians.xy, plain.unquantized.xy)
    assert torch.equal(tail.unquantized.xy, plain.unquantized.xy)  # same main phase
    decoded = dequantize(quantize(tail.gaussians, 128, 128, bits, sort=False))
    for name in ("xy", "scale", "rotation"):  # the tail already holds the decoded geometry
        torch.testing.assert_close(getattr(decoded, name), getattr(tail.gaussians, name), rtol=1e-6, atol=1e-6)
    without = _psnr(render(dequantize(quantize(plain.gaussians, 128, 128, bits)), 128, 128, "cpu"), crop)
    with_tail = _psnr(render(decoded, 128, 128, "cpu"), crop)
    unquantized = _psnr(render(tail.unquantized, 128, 128, "cpu"), crop)
    # measured: 30.96 dB without the tail, 31.33 with it, 31.71 unquantized (coarse bits, to make it visible)
    assert with_tail > without + 0.25, (without, with_tail)
    assert with_tail > unquantized - 0.5, (unquantized, with_tail)


def test_default_steps_grow_as_the_density_falls() -> None:
    from fast2dgs_cli.encoder.fit import default_steps

    pixels = 768 * 512
    assert default_steps(10_000, pixels) == 50 == default_steps(40_000, pixels)
    assert default_steps(5_000, pixels) == 100 == default_steps(500, pixels)
    assert default_steps(7_071, pixels) == 75  # half-way in log-density
    assert default_steps(2_500, 384 * 256) == 50  # density, not count
