"""Quality metrics."""

from __future__ import annotations

import math

import pytest
import torch

from fast2dgs_cli.metrics import ms_ssim, psnr, ssim, to_uint8


def _image(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 24, 32, generator=g), size=(192, 256), mode="bilinear")
    return smooth[0].permute(1, 2, 0).contiguous()


def test_to_uint8_rounds_and_clamps() -> None:
    out = to_uint8(torch.tensor([[[-0.5, 0.5, 1.7]]]))
    assert out.tolist() == [[[0, 128, 255]]]


def test_psnr_of_known_offset() -> None:
    a = to_uint8(_image()).clamp(0, 250)
    b = a + 5
    assert math.isclose(psnr(a, b), 20 * math.log10(255 / 5), rel_tol=1e-9)
    assert psnr(a, a) == math.inf


def test_ms_ssim_properties() -> None:
    a = _image()
    assert math.isclose(ms_ssim(a, a), 1.0, rel_tol=1e-9)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(a.shape, generator=g)
    values = [ms_ssim(to_uint8(a), to_uint8(a + level * noise)) for level in (0.01, 0.05, 0.2)]
    assert values[0] > values[1] > values[2] > 0
    b = to_uint8(a + 0.05 * noise)
    assert math.isclose(ms_ssim(to_uint8(a), b), ms_ssim(b, to_uint8(a)), rel_tol=1e-12)
    assert math.isnan(ms_ssim(a[:100], a[:100]))


def test_ssim_is_differentiable() -> None:
    a = _image()
    b = (a + 0.1).clamp(0, 1).requires_grad_(True)
    value = ssim(b, a)
    value.backward()
    assert 0 < value.item() < 1 and b.grad is not None and b.grad.abs().sum() > 0


def test_ssim_builds_its_window_on_the_images_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fit's l1-ssim loss runs on the backend's device: a CPU window would fail on CUDA images."""
    devices = []
    convolve = torch.nn.functional.conv2d

    def recording_conv2d(x: torch.Tensor, weight: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        devices.append(weight.device)
        return convolve(x, weight, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "conv2d", recording_conv2d)
    ssim(torch.zeros(16, 16, 3, device="meta"), torch.zeros(16, 16, 3, device="meta"))
    assert devices and all(device.type == "meta" for device in devices)
