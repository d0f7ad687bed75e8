"""Closed choices and defaults shared by the library and the CLI (torch-free, so ``f2dgs --help`` stays light)."""

from __future__ import annotations

from enum import Enum

__all__ = ["DEFAULT_GAUSSIANS", "DEFAULT_STEPS", "Backend", "InitMethod", "Loss"]

DEFAULT_GAUSSIANS = 10_000
"""Gaussian budget per image when none is given."""

DEFAULT_STEPS = 100
"""Fine-tuning steps per image when none is given (about 3 s at 768×512 on 2 cores, fast CPU backend)."""


class Backend(str, Enum):
    """Renderer backends; ``auto`` picks gmod on CUDA, else the fast CPU kernels, else the torch reference."""

    AUTO = "auto"
    TORCH = "torch"
    CPU = "cpu"
    GMOD = "gmod"


class InitMethod(str, Enum):
    """How the initial Gaussians are chosen: heuristics, or the Deep Gaussian Prior networks (``prior``)."""

    GRADIENT = "gradient"
    RANDOM = "random"
    PRIOR = "prior"


class Loss(str, Enum):
    """Reconstruction loss minimized by fine-tuning."""

    MSE = "mse"
    L1_SSIM = "l1-ssim"
