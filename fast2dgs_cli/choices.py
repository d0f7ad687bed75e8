"""Closed choices and defaults shared by the library and the CLI (torch-free, so ``f2dgs --help`` stays light)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "DEFAULT_DENSITY",
    "DEFAULT_GAUSSIANS",
    "DEFAULT_QUALITY",
    "DEFAULT_STEPS",
    "MAX_DEFAULT_STEPS",
    "MAX_ENCODES",
    "REFERENCE_QUALITY",
    "Backend",
    "InitMethod",
    "Loss",
    "RateChoice",
]

DEFAULT_QUALITY = 60
"""``f2dgs encode`` and ``bench`` quality when no quality, size or budget is given (``rate.budget_for_quality``)."""

REFERENCE_QUALITY = 70
"""The quality whose density of Gaussians is ``DEFAULT_DENSITY``: the fixed point of the quality scale."""

DEFAULT_GAUSSIANS = 10_000
"""Gaussian budget of the library's ``EncodeOptions``: quality 70 on a 768×512 image."""

DEFAULT_DENSITY = DEFAULT_GAUSSIANS / (768 * 512)
"""Gaussians per pixel at ``REFERENCE_QUALITY`` (about 0.025)."""

DEFAULT_STEPS = 50
"""Fine-tuning steps when none are given, at ``DEFAULT_DENSITY`` and above (``encoder.fit.default_steps``): the
prior starts close to a fit. Measured in docs/encoder.md."""

MAX_DEFAULT_STEPS = 100
"""Fine-tuning steps when none are given, at half ``DEFAULT_DENSITY`` and below: fewer, larger Gaussians cost
about as much per step and gain more from it. Measured in docs/encoder.md."""


MAX_ENCODES = 5
"""Most full encodes ``rate.encode_to_bpp`` runs for one image before giving up."""


class Backend(str, Enum):
    """Renderer backends. ``auto`` is the fast CPU kernels, else the torch reference: the ones whose bytes do not
    change from run to run. gmod (CUDA) sums its gradients in a varying order, so it runs only when named."""

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


@dataclass(frozen=True)
class RateChoice:
    """How big a file should be: at most one of a quality, a size in bits per pixel, or a Gaussian count.

    None given means ``DEFAULT_QUALITY``. Raises ``ValueError`` when more than one is given.
    """

    quality: float | None = None
    bpp: float | None = None
    gaussians: int | None = None

    def __post_init__(self) -> None:
        if sum(value is not None for value in (self.quality, self.bpp, self.gaussians)) > 1:
            raise ValueError("give only one of -q/--quality, --bpp, --gaussians")
