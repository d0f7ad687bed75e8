"""Closed choices shared by the library and the CLI (torch-free, so ``f2dgs --help`` stays light)."""

from __future__ import annotations

from enum import Enum

__all__ = ["Backend", "InitMethod", "Loss"]


class Backend(str, Enum):
    """Renderer backends; ``auto`` picks gmod on CUDA, else the fast CPU kernels, else the torch reference."""

    AUTO = "auto"
    TORCH = "torch"
    CPU = "cpu"
    GMOD = "gmod"


class InitMethod(str, Enum):
    """How initial Gaussian positions are chosen."""

    GRADIENT = "gradient"
    RANDOM = "random"


class Loss(str, Enum):
    """Reconstruction loss minimized by fine-tuning."""

    MSE = "mse"
    L1_SSIM = "l1-ssim"
