"""Prior initialization: both networks, one sampling step, ``n`` Gaussians ready for fine-tuning.

```
image [H,W,3] ─► [1,3,H,W], log ρ (ρ = n/(H·W))
   ├─► PriorNet ─► logits ─softmax─► sample_positions(n) ─► relax_positions ─► rows, cols ─┐
   └─► AttributeNet ─► maps [9,H,W] ───────────────────────────────────────────────────────┴─► gaussians_from_maps
```

The relaxation evens out the systematic sampler's spacing; the multinomial ablation keeps the paper's
sampling untouched.

The networks run on one torch thread, whatever ``torch.set_num_threads`` (or ``OMP_NUM_THREADS``, or numba's
thread count, which shares the OpenMP runtime) says: torch picks a different 1×1 convolution (im2col and
BLAS instead of oneDNN) when it has a single thread, and neither library promises the same rounding for
every thread count. One thread computes the same maps everywhere, so the same input and seed give the same
file on any number of cores (docs/encoder.md, "Determinism across thread counts").
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import torch
from torch import Tensor

from ..gaussians import Gaussians
from .attributes import gaussians_from_maps
from .registry import DEFAULT_MODEL, PriorModels, load_models
from .relaxation import RELAX_ITERATIONS, relax_positions
from .sampling import sample_positions

__all__ = ["default_models", "predict_maps", "prior_init"]


@lru_cache(maxsize=1)
def default_models() -> PriorModels:
    """The shipped default model, loaded once per process (``ModelUnavailable`` if not installed)."""
    return load_models(DEFAULT_MODEL)


def predict_maps(image: Tensor, n: int, models: PriorModels) -> tuple[Tensor, Tensor]:
    """Run both networks on ``image`` (``[H,W,3]``) at density ``n/(H·W)``: ``(probs [H,W], maps [9,H,W])``."""
    height, width = image.shape[:2]
    batch = image.permute(2, 0, 1)[None].float()
    log_density = torch.tensor([math.log(n / (height * width))])
    with torch.inference_mode(), _one_thread():
        logits = models.prior(batch, log_density)[0]
        maps = models.attributes(batch, log_density)[0]
        probs = torch.softmax(logits.double().reshape(-1), dim=0).reshape(height, width)
    return probs.clone(), maps.clone()  # clones outside inference mode are ordinary tensors


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run the enclosed torch ops on one thread (the calling thread's setting is restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def prior_init(
    image: Tensor,
    n: int,
    seed: int = 0,
    models: PriorModels | None = None,
    sampling: str = "systematic",
    relax: int = RELAX_ITERATIONS,
) -> Gaussians:
    """Place ``n`` Gaussians on ``image`` (``[H, W, 3]`` float in [0, 1]) with the Deep Gaussian Prior.

    Args:
        image: the target image.
        n: number of Gaussians, 1 ≤ n ≤ H·W.
        seed: seed of the position sampling.
        models: the networks (default: the shipped default model).
        sampling: ``systematic`` (n distinct pixels) or ``multinomial`` (with replacement, as the paper).
        relax: Lloyd iterations applied to systematic samples (``relaxation``; 0: the sampler's pixels).
    """
    height, width = image.shape[:2]
    if not 1 <= n <= height * width:
        raise ValueError(f"cannot place {n} Gaussians on a {width}x{height} image (1 to {height * width})")
    probs, maps = predict_maps(image, n, models or default_models())
    chosen = sample_positions(probs, n, sampling, seed)
    if sampling == "systematic":
        chosen = relax_positions(chosen, probs, relax)
    return gaussians_from_maps(maps, chosen // width, chosen % width)
