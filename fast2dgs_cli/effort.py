"""Effort levels: how much encode time buys how much picture, like ``cjxl -e`` or ``avifenc -s``.

An effort (1–9) never changes the Gaussian budget: it sets how long fine-tuning runs, how hard the codes are
refined after quantization, and (efforts 4–9) whether the colour depth and the Gaussians kept are chosen for
rate and distortion, which makes files a few per cent smaller. ``--steps`` and ``--time`` still override or
cap the fine-tuning of any effort. Effort 3 fits and refines as f2dgs 0.1 did (the default steps of
``encoder.fit.default_steps``, two geometry sweeps); the default is ``DEFAULT_EFFORT``. What each level costs
and gains on Kodak: docs/encoder.md and benchmarks/README.md.

Torch-free, so that ``f2dgs --help`` can list the levels.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_EFFORT", "EFFORTS", "LEGACY_EFFORT", "MAX_EFFORT", "MIN_EFFORT", "Effort", "effort_level"]

MIN_EFFORT = 1
MAX_EFFORT = 9
DEFAULT_EFFORT = 5
"""Effort of ``f2dgs encode`` and of ``EncodeOptions`` when none is given."""
LEGACY_EFFORT = 3
"""The effort that fits and refines as f2dgs 0.1's default did."""


@dataclass(frozen=True)
class Effort:
    """What one effort level does.

    Attributes:
        step_factor: fine-tuning steps as a multiple of ``encoder.fit.default_steps`` (which follows the
            Gaussian density).
        decay: share of the fine-tuning steps at the end over which the learning rates decay
            (``encoder.fit.FitConfig.decay``).
        keep_best: keep the fit's best step, not its last (``encoder.fit.FitConfig.keep_best``).
        scale_rate: learning rate of the log scales (``None``: ``encoder.fit.FitConfig``'s): a larger one
            travels further in a short fit, and the decay lets it settle.
        backoff: halve the rates when the loss climbs past this multiple of its lowest
            (``encoder.fit.FitConfig.backoff``): a long fit at a large rate can lose its way on a smooth picture.
        geometry_sweeps: most sweeps of each geometry refinement (``refine_geometry``; 0: none).
        rounds: geometry-then-colour refinement rounds after the first colour refinement (the sequence stops
            early when the geometry no longer moves).
        min_steps: fewest fine-tuning steps at any density (``default_steps`` falls as the density rises, but
            dense fits are the furthest from settled).
        rate_aware: choose the colour depth per image (``encoder.precision``) and drop the Gaussians that cost
            more bytes than the picture they add (``encoder.existence``).
    """

    step_factor: float
    decay: float = 0.0
    keep_best: bool = False
    scale_rate: float | None = None
    backoff: float | None = None
    geometry_sweeps: int = 2
    rounds: int = 1
    min_steps: int = 0
    rate_aware: bool = False


_LONG_FIT = dict(decay=0.3, keep_best=True, scale_rate=0.2, backoff=1.5, rate_aware=True)

EFFORTS: dict[int, Effort] = {
    1: Effort(0.3, geometry_sweeps=1),
    2: Effort(0.6, geometry_sweeps=1),
    3: Effort(1.0),
    4: Effort(1.2, decay=0.3, scale_rate=0.2, min_steps=100, rate_aware=True),
    5: Effort(1.5, decay=0.3, scale_rate=0.2, min_steps=125, rate_aware=True),
    6: Effort(2.5, min_steps=200, **_LONG_FIT),
    7: Effort(4.0, geometry_sweeps=3, min_steps=330, **_LONG_FIT),
    8: Effort(6.0, geometry_sweeps=3, rounds=2, min_steps=500, **_LONG_FIT),
    9: Effort(10.0, geometry_sweeps=4, rounds=3, min_steps=830, **_LONG_FIT),
}
"""The levels, by number (see the module docstring)."""


def effort_level(effort: int) -> Effort:
    """The ``Effort`` of level ``effort``; ``ValueError`` outside ``MIN_EFFORT``–``MAX_EFFORT``."""
    if isinstance(effort, bool) or effort not in EFFORTS:
        raise ValueError(f"effort must be an integer from {MIN_EFFORT} to {MAX_EFFORT}, got {effort!r}")
    return EFFORTS[effort]
