"""Image quality metrics: PSNR, SSIM and MS-SSIM, and the 8-bit conversion every figure is measured on.

Benchmarks measure the 8-bit rounded reconstruction (``to_uint8``), as image-codec papers do. SSIM and MS-SSIM
come from ``pytorch_msssim`` (Wang, Simoncelli & Bovik: 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03,
five scales), averaged over RGB. Images whose shorter side is below 161 pixels (too small for five scales) get
NaN from ``ms_ssim``.
"""

from __future__ import annotations

import math

import torch
from pytorch_msssim import ms_ssim as _ms_ssim
from pytorch_msssim import ssim as _ssim
from torch import Tensor

from .imageio import to_rgb8

__all__ = ["to_uint8", "psnr", "ssim", "ms_ssim"]

_MIN_SIDE = 161
"""Smallest shorter side MS-SSIM's five scales with an 11-pixel window accept."""


def to_uint8(image: Tensor) -> Tensor:
    """``[H, W, 3]`` float in [0, 1] → uint8 CPU tensor (``imageio.to_rgb8``). uint8 input is returned as is."""
    if image.dtype == torch.uint8:
        return image
    return torch.from_numpy(to_rgb8(image.detach().cpu().numpy()))


def _as_float(image: Tensor) -> Tensor:
    return image.double() / 255.0 if image.dtype == torch.uint8 else image.double()


_PSNR_CHUNK = 1 << 22
"""Values per float64 chunk of ``psnr``."""


def psnr(a: Tensor, b: Tensor) -> float:
    """Peak signal-to-noise ratio in dB (peak 1.0 on floats, 255 on uint8); ``inf`` for identical images.

    Summed in float64 over ``_PSNR_CHUNK`` values at a time, so that a large picture needs no float64 copies.
    """
    flat_a, flat_b = a.reshape(-1), b.reshape(-1)
    total = 0.0
    for start in range(0, flat_a.numel(), _PSNR_CHUNK):
        difference = _as_float(flat_a[start : start + _PSNR_CHUNK]) - _as_float(flat_b[start : start + _PSNR_CHUNK])
        total += float(torch.dot(difference, difference))
    mse = total / max(flat_a.numel(), 1)
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def _nchw(image: Tensor) -> Tensor:
    return (_as_float(image) if image.dtype == torch.uint8 else image).permute(2, 0, 1)[None]


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """Single-scale SSIM of two ``[H, W, 3]`` images in [0, 1], averaged over channels; differentiable (a loss).

    Float inputs keep their dtype and graph; both sides must be at least 11 pixels.
    """
    return _ssim(_nchw(a), _nchw(b), data_range=1.0, size_average=True)


def ms_ssim(a: Tensor, b: Tensor) -> float:
    """Multi-scale SSIM of two ``[H, W, 3]`` images (uint8 or float in [0, 1]); NaN if too small."""
    if min(a.shape[0], a.shape[1]) < _MIN_SIDE:
        return math.nan
    return float(_ms_ssim(_as_float(a).permute(2, 0, 1)[None], _as_float(b).permute(2, 0, 1)[None], data_range=1.0))
