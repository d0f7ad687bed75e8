"""``benchmarks/gpu_check.py``: its scenes and parity harness judge every backend that runs here against the
torch reference (gmod where a GPU and a built gmod are present), and without CUDA the script stops with a clear
"no CUDA" message."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from fast2dgs_cli.gaussians import Gaussians
from fast2dgs_cli.render import project
from fast2dgs_cli.render.gmod_backend import gmod_available, tile_counts

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "backend",
    ["cpu", "torch", pytest.param("gmod", marks=pytest.mark.skipif(not gmod_available(), reason="needs gmod"))],
)
def test_the_parity_harness_passes_every_backend_on_every_size(gpu_check: ModuleType, backend: str) -> None:
    for height, width in gpu_check.SIZES:
        for name, scene in gpu_check.scenes().items():
            record = gpu_check.parity(scene, height, width, backend)
            assert gpu_check.parity_passed(record), (name, height, width, record)


def test_the_parity_harness_catches_a_picture_off_by_more_than_the_tolerance(
    gpu_check: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    draw = gpu_check.render
    monkeypatch.setattr(gpu_check, "render", lambda g, h, w, backend: draw(g, h, w, backend) * (1 + 1e-4))
    record = gpu_check.parity(gpu_check.random_scene(300, 1), 33, 16, "cpu")
    assert not gpu_check.parity_passed(record) and record["forward_max_abs"] > gpu_check.FORWARD_TOLERANCE


def test_the_parity_harness_catches_gradients_off_by_a_percent(
    gpu_check: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same picture, but the colours' gradients 1 % too large."""
    draw = gpu_check.render

    def skewed(g: Gaussians, height: int, width: int, backend: str) -> torch.Tensor:
        color = g.color * 1.01 - 0.01 * g.color.detach()
        return draw(Gaussians(g.xy, g.scale, g.rotation, color), height, width, backend)

    monkeypatch.setattr(gpu_check, "render", skewed)
    record = gpu_check.parity(gpu_check.random_scene(300, 1), 33, 16, "cpu")
    assert record["forward_max_abs"] <= gpu_check.FORWARD_TOLERANCE and record["xy_grad_excess"] <= 0
    assert record["color_grad_excess"] > 0 and not gpu_check.parity_passed(record)


def test_degenerate_and_culled_scenes_hold_what_they_promise(gpu_check: ModuleType) -> None:
    degenerate, culled = gpu_check.degenerate_scene(0), gpu_check.culled_scene()
    assert not bool(torch.isfinite(degenerate.xy).all()) and bool((degenerate.scale == 0).any())
    assert int(tile_counts(project(culled, 50, 77).tile_box).sum()) == 0


def test_adapter_pairs_agree_with_the_adapters_tile_counts(gpu_check: ModuleType) -> None:
    for name, scene in gpu_check.scenes().items():
        projected = project(scene, 50, 77)
        pairs = gpu_check.adapter_pairs(projected)
        per_gaussian = torch.bincount(pairs % len(scene), minlength=len(scene))
        assert torch.equal(per_gaussian, tile_counts(projected.tile_box).long()), name
        assert bool((pairs[1:] > pairs[:-1]).all()), name


def test_picture_crops_to_the_aspect_ratio_and_resizes(gpu_check: ModuleType) -> None:
    image = torch.rand(256, 384, 3)
    assert gpu_check.picture(image, 512, 512).shape == (512, 512, 3)
    assert gpu_check.picture(image, 512, 768).shape == (512, 768, 3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_without_cuda_the_script_says_so_and_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "never.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True, env=env,
                          check=False)  # fmt: skip
    assert done.returncode == 3 and "no CUDA device" in done.stderr and not out.exists()
