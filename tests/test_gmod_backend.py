"""The gmod (CUDA) backend: a fit on the GPU, black pictures without intersections, a clear refusal without gmod
(its parity with the reference: `test_gpu_check.py`)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from scenes import random_scene

from fast2dgs_cli.encoder.fit import FitConfig, finetune
from fast2dgs_cli.gaussians import Gaussians
from fast2dgs_cli.render import BackendUnavailable, gmod_backend, project, render
from fast2dgs_cli.render.gmod_backend import gmod_available

needs_gmod = pytest.mark.skipif(not gmod_available(), reason="needs a CUDA GPU and a built gmod")


def test_importing_f2dgs_never_imports_gmod() -> None:
    code = "import sys, fast2dgs_cli.render, fast2dgs_cli.codec; assert 'gmod' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.skipif(gmod_available(), reason="gmod is available here")
def test_gmod_unavailable_is_a_clear_error() -> None:
    with pytest.raises(BackendUnavailable, match="CUDA GPU and the gmod package"):
        render(random_scene(5, 0), 16, 16, "gmod")


@pytest.mark.parametrize("centre", [math.inf, -math.inf, math.nan])
def test_a_picture_without_tile_intersections_is_black_with_zero_gradients(
    monkeypatch: pytest.MonkeyPatch, centre: float
) -> None:
    """The adapter's own short-cut (gmod is never called), run on the CPU: inf or NaN centres give black, not NaN."""
    monkeypatch.setattr(gmod_backend, "DEVICE", torch.device("cpu"))
    xy = torch.tensor([[centre, 0.5], [5.0, 5.0], [0.5, 0.5]])
    scale = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0]])  # off the picture; zero area
    params = [t.clone().requires_grad_(True) for t in (xy, scale, torch.zeros(3), torch.rand(3, 3))]
    image = gmod_backend.rasterize_gmod(project(Gaussians(*params), 20, 27))
    assert image.shape == (20, 27, 3) and bool((image == 0).all())
    (image * torch.randn(20, 27, 3)).sum().backward()
    assert all(p.grad is not None and bool((p.grad == 0).all()) for p in params)


@needs_gmod
def test_finetune_runs_on_the_gpu_and_returns_cpu_tensors() -> None:
    target = torch.rand(40, 56, 3, generator=torch.Generator().manual_seed(0))
    result = finetune(random_scene(200, 2), target, FitConfig(steps=5), backend="gmod")
    assert result.steps == 5 and all(math.isfinite(loss) for loss in result.losses)
    assert result.gaussians.xy.device.type == "cpu" and result.losses[-1] < result.losses[0]
