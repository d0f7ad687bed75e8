"""Validation: does the prior start better than the heuristic, before any fine-tuning?

```
held-out photo ──centre crop (downscaled)──► for each density ρ: K = ρ·H·W
    ├─► prior_init(K, relax=0)       ─► render ─► 8-bit PSNR ─┐
    └─► init_gaussians(gradient, K)  ─► render ─► 8-bit PSNR ─┴─► means per ρ and overall
```

The prior's positions are the sampler's, as in training, without the Lloyd relaxation the encoder adds: the
score measures the networks, and model cards stay comparable across versions of the relaxation.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

from torch import Tensor

from ..encoder.init import init_gaussians
from ..metrics import psnr, to_uint8
from ..networks import AttributeNet, PriorModels, PriorNet, prior_init
from ..render import render

__all__ = ["validate"]


def validate(
    prior: PriorNet, attributes: AttributeNet, images: list[Tensor], densities: tuple[float, ...], seed: int,
    on_done: Callable[[int, int], None] | None = None,
) -> dict[str, object]:  # fmt: skip
    """PSNR at 0 fine-tuning steps of prior init vs gradient init on ``images`` (``[H,W,3]`` floats).

    Returns:
        ``{"prior_psnr", "gradient_psnr", "per_density": {ρ: {"prior", "gradient"}}}`` (dB, means over
        the images; empty means are ``None``).
    """
    was_training = prior.training, attributes.training
    models = PriorModels(prior.eval(), attributes.eval())
    scores: dict[float, dict[str, list[float]]] = {d: {"prior": [], "gradient": []} for d in densities}
    total, done = len(images) * len(densities), 0
    for image in images:
        height, width = image.shape[:2]
        reference = to_uint8(image)
        for density in densities:
            k = min(height * width, max(1, round(density * height * width)))
            for name, gaussians in (
                ("prior", prior_init(image, k, seed, models, relax=0)),
                ("gradient", init_gaussians(image, k, seed, method="gradient")),
            ):
                scores[density][name].append(psnr(to_uint8(render(gaussians, height, width, "cpu")), reference))
            done += 1
            if on_done is not None:
                on_done(done, total)
    prior.train(was_training[0])
    attributes.train(was_training[1])
    per_density = {f"{d:g}": {n: _mean(v) for n, v in s.items()} for d, s in scores.items()}
    return {
        "prior_psnr": _mean([x for s in scores.values() for x in s["prior"]]),
        "gradient_psnr": _mean([x for s in scores.values() for x in s["gradient"]]),
        "per_density": per_density,
    }


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None
