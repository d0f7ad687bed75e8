"""Image quality metrics: PSNR, SSIM and MS-SSIM, and the one 8-bit conversion used everywhere.

Benchmarks measure the 8-bit rounded reconstruction (``to_uint8``), as image-codec papers do. MS-SSIM is
Wang, Simoncelli & Bovik (2003): 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03, five scales with
weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2×2 average pooling between scales, computed per channel
and averaged over RGB. Images whose shorter side is below 161 pixels (too small for five scales with an
11-pixel window) get NaN from ``ms_ssim``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ms_ssim", "psnr", "ssim", "to_uint8"]

_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW, _SIGMA, _K1, _K2 = 11, 1.5, 0.01, 0.03
_MIN_SIDE = (_WINDOW - 1) * 2 ** (len(_WEIGHTS) - 1) + 1


def to_uint8(image: Tensor) -> Tensor:
    """``[H, W, 3]`` float in [0, 1] → uint8: ``round(clamp(x, 0, 1) · 255)``. uint8 input is returned as is."""
    if image.dtype == torch.uint8:
        return image
    return torch.round(image.detach().float().clamp(0.0, 1.0) * 255.0).to(torch.uint8)


def _as_float(image: Tensor) -> Tensor:
    return image.double() / 255.0 if image.dtype == torch.uint8 else image.double()


def psnr(a: Tensor, b: Tensor) -> float:
    """Peak signal-to-noise ratio in dB (peak 1.0 on floats, 255 on uint8); ``inf`` for identical images."""
    mse = float(torch.mean((_as_float(a) - _as_float(b)) ** 2))
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def _window(dtype: torch.dtype, device: torch.device) -> Tensor:
    taps = torch.arange(_WINDOW, dtype=dtype, device=device) - (_WINDOW - 1) / 2
    kernel = torch.exp(-0.5 * (taps / _SIGMA) ** 2)
    return kernel / kernel.sum()


def _blur(x: Tensor, kernel: Tensor) -> Tensor:
    channels = x.shape[1]
    x = F.conv2d(x, kernel.reshape(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(x, kernel.reshape(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def _ssim_terms(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean SSIM and mean contrast-structure term of ``[1, C, H, W]`` images in [0, 1]."""
    kernel = _window(x.dtype, x.device)
    c1, c2 = _K1**2, _K2**2
    mu_x, mu_y = _blur(x, kernel), _blur(y, kernel)
    var_x = _blur(x * x, kernel) - mu_x**2
    var_y = _blur(y * y, kernel) - mu_y**2
    cov = _blur(x * y, kernel) - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (luminance * cs).mean(dim=(0, 2, 3)), cs.mean(dim=(0, 2, 3))


def _nchw(image: Tensor) -> Tensor:
    return _as_float(image).permute(2, 0, 1)[None]


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """Single-scale SSIM of two ``[H, W, 3]`` images, averaged over channels; differentiable (a loss term).

    Float inputs keep their dtype and graph; both sides must be at least 11 pixels.
    """
    x = _nchw(a) if a.dtype == torch.uint8 else a.permute(2, 0, 1)[None]
    y = _nchw(b) if b.dtype == torch.uint8 else b.permute(2, 0, 1)[None]
    return _ssim_terms(x, y)[0].mean()


def ms_ssim(a: Tensor, b: Tensor) -> float:
    """Multi-scale SSIM of two ``[H, W, 3]`` images (uint8 or float in [0, 1]); NaN if too small."""
    if min(a.shape[0], a.shape[1]) < _MIN_SIDE:
        return math.nan
    x, y = _nchw(a), _nchw(b)
    value = torch.ones(x.shape[1], dtype=torch.float64)
    for level, weight in enumerate(_WEIGHTS):
        full, cs = _ssim_terms(x, y)
        last = level == len(_WEIGHTS) - 1
        value = value * (full.clamp_min(0) if last else cs.clamp_min(0)) ** weight
        if not last:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return float(value.mean())
