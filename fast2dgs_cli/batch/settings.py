"""What a batch's work needs besides the files: the encode and decode settings, and how to run the files.

Importing this module loads neither torch nor the encoder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from ..choices import DEFAULT_GAUSSIANS, Backend, InitMethod, Loss, RateChoice
from ..effort import DEFAULT_EFFORT, effort_level
from ..imageio import MAX_PIXELS

__all__ = [
    "DEFAULT_RETRIES", "DecodeSettings", "EncodeSettings", "RunnerSettings", "StepCallback", "default_workers",
]  # fmt: skip

StepCallback = Callable[[int, int, float], None]
"""Fine-tuning progress: ``(step, total steps, loss)``."""
DEFAULT_RETRIES = 2
"""Times a file whose worker died is tried again before it is reported ``crashed``."""


@dataclass(frozen=True)
class EncodeSettings:
    """Everything ``encode_file`` and ``bench_file`` need besides the file (see ``f2dgs encode --help``)."""

    quality: float | None = None
    bpp: float | None = None
    gaussians: int | None = None
    steps: int | None = None
    time_budget: float | None = None
    seed: int = 0
    init: InitMethod = InitMethod.PRIOR
    loss: Loss = Loss.MSE
    backend: Backend = Backend.AUTO
    max_pixels: int = MAX_PIXELS
    effort: int = DEFAULT_EFFORT

    def __post_init__(self) -> None:
        effort_level(self.effort)  # each raises ValueError for settings that cannot work
        _ = self.rate

    @property
    def rate(self) -> RateChoice:
        """The rate choice (at most one of quality, bpp, Gaussians)."""
        return RateChoice(self.quality, self.bpp, self.gaussians)

    def options(self):  # -> codec.EncodeOptions (imported lazily: it needs torch)
        """The codec's ``EncodeOptions`` for these settings (the budget: ``gaussians`` or the default)."""
        from ..codec import EncodeOptions
        from ..encoder.fit import FitConfig

        fit = FitConfig(steps=self.steps, time_budget=self.time_budget, loss=self.loss)
        budget = self.gaussians or DEFAULT_GAUSSIANS
        return EncodeOptions(
            gaussians=budget, fit=fit, seed=self.seed, init=self.init, backend=self.backend, effort=self.effort
        )


@dataclass(frozen=True)
class DecodeSettings:
    """Output size (at most one of a scale or a width/height) and renderer of ``decode_file``."""

    width: int | None = None
    height: int | None = None
    scale: float | None = None
    backend: Backend = Backend.AUTO
    max_pixels: int = MAX_PIXELS


@dataclass(frozen=True)
class RunnerSettings:
    """How the files of a batch are run (``runners.run_batch``).

    Attributes:
        workers: processes (local pool) or actors (Ray) working at once; 1 without Ray runs in this process.
        ray: run on a Ray cluster (``ray_address``, else ``RAY_ADDRESS``, else a local one started here).
        ray_address: the cluster's address (``ray://…`` or ``HOST:PORT``), implies ``ray``.
        cpus_per_worker: CPUs a Ray worker reserves (its threads, too).
        gpus_per_worker: GPUs a Ray worker reserves (so that GPU nodes can run ``--backend gmod``).
        retries: times a file whose worker died is tried again before it ends ``crashed``.
    """

    workers: int = 1
    ray: bool = False
    ray_address: str | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    retries: int = DEFAULT_RETRIES

    @property
    def uses_ray(self) -> bool:
        """Whether the batch runs on Ray."""
        return self.ray or self.ray_address is not None


def default_workers() -> int:
    """The local pool's size when ``-j`` is not given: one worker per core, each on one thread (faster than one
    process on every core: the encoder's Python work between kernels runs in parallel; ``docs/batch.md``)."""
    return max(1, os.cpu_count() or 1)
