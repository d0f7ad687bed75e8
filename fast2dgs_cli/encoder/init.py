"""Heuristic initialization (Image-GS style): where the Gaussians start before fine-tuning.

Positions are ``n`` distinct pixels: a ``uniform_ratio`` share drawn uniformly, the rest drawn with
probability ∝ squared Sobel gradient magnitude, all **without replacement** (no wasted duplicates). Each
Gaussian sits exactly on its pixel (``xy = (j/W, i/H)``, the renderer's integer pixel convention), takes that
pixel's colour, and starts isotropic with a standard deviation proportional to the local spacing of the
Gaussians, ``1/sqrt(local density)``, so sparse flat regions get wide Gaussians and busy edges small ones.

The ``prior`` method hands over to the Deep Gaussian Prior (``networks.prior_init``): networks predict the
position distribution and every attribute; the shipped weights load on first use and stay cached.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..choices import InitMethod
from ..gaussians import Gaussians

__all__ = ["InitMethod", "init_gaussians", "gradient_energy"]

_SPACING_TO_STD = 0.5
"""Initial std as a fraction of the local spacing between Gaussians (enough overlap for a smooth blend)."""


def gradient_energy(image: Tensor) -> Tensor:
    """Squared Sobel gradient magnitude of an ``[H, W, 3]`` image, summed over channels: ``[H, W]``."""
    x = image.permute(2, 0, 1)[:, None]  # [3, 1, H, W]
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([sobel, sobel.T])[:, None]  # [2, 1, 3, 3]
    grads = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels)  # [3, 2, H, W]
    return grads.square().sum(dim=(0, 1))


def init_gaussians(
    image: Tensor,
    n: int,
    seed: int = 0,
    method: InitMethod | str = InitMethod.GRADIENT,
    uniform_ratio: float = 0.3,
) -> Gaussians:
    """Place ``n`` Gaussians on distinct pixels of ``image`` (``[H, W, 3]`` float in [0, 1]).

    Args:
        image: the target image.
        n: number of Gaussians, 1 ≤ n ≤ H·W.
        seed: seed of the sampling; the same seed gives the same Gaussians.
        method: ``gradient`` (uniform share + ∝ gradient²), ``random`` (all uniform) or ``prior`` (the
            shipped networks; raises ``networks.ModelUnavailable`` when their weights are not installed).
        uniform_ratio: share of uniformly drawn positions for the ``gradient`` method.
    """
    height, width = image.shape[:2]
    if not 1 <= n <= height * width:
        raise ValueError(f"cannot place {n} Gaussians on a {width}x{height} image (1 to {height * width})")
    method = InitMethod(method)
    if method is InitMethod.PRIOR:
        from ..networks.predict import prior_init

        return prior_init(image, n, seed)
    generator = torch.Generator().manual_seed(seed)
    n_uniform = n if method is InitMethod.RANDOM else round(uniform_ratio * n)
    uniform = torch.randperm(height * width, generator=generator)[:n_uniform]
    chosen = uniform
    if n_uniform < n:
        energy = gradient_energy(image).flatten().double()
        weight = energy / energy.max().clamp_min(1e-12) + 1e-6  # every pixel stays reachable
        weight[uniform] = 0.0
        guided = torch.multinomial(weight, n - n_uniform, replacement=False, generator=generator)
        chosen = torch.cat([uniform, guided])
    chosen = chosen.sort().values
    rows, cols = chosen // width, chosen % width

    xy = torch.stack([cols.float() / width, rows.float() / height], dim=1)
    color = image[rows, cols].float()
    std = _SPACING_TO_STD / local_density(rows, cols, height, width, n).sqrt()
    std = std.clamp(0.5, 0.25 * min(height, width))
    return Gaussians(xy, torch.stack([std, std], dim=1), torch.zeros(n), color)


def local_density(rows: Tensor, cols: Tensor, height: int, width: int, n: int) -> Tensor:
    """Gaussians per pixel around each position: the impulse map blurred at the mean spacing's scale."""
    impulses = torch.zeros(height * width)
    impulses.index_add_(0, rows * width + cols, torch.ones(len(rows)))
    spacing = math.sqrt(height * width / n)
    sigma = max(1.0, spacing)
    radius = min(int(3 * sigma), max(height, width))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    grid = impulses.reshape(1, 1, height, width)
    grid = F.conv2d(F.pad(grid, (radius, radius, 0, 0), mode="constant"), kernel.reshape(1, 1, 1, -1))
    grid = F.conv2d(F.pad(grid, (0, 0, radius, radius), mode="constant"), kernel.reshape(1, 1, -1, 1))
    # Zero padding loses mass at the border: divide by the blurred all-ones mask to correct it.
    ones = torch.ones(1, 1, height, width)
    ones = F.conv2d(F.pad(ones, (radius, radius, 0, 0)), kernel.reshape(1, 1, 1, -1))
    ones = F.conv2d(F.pad(ones, (0, 0, radius, radius)), kernel.reshape(1, 1, -1, 1))
    density = (grid / ones).reshape(-1)[rows * width + cols]
    return density.clamp_min(1.0 / (height * width))
