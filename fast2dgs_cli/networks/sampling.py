"""Drawing ``K`` Gaussian positions from a per-pixel distribution.

```
weights [H,W] ≥ 0 ──normalize──► p ──water-fill: no pixel above 1/K──► q ──systematic, one offset u──► K pixels
                                  └──────────────── multinomial, with replacement ──────────────────► K pixels
```

**Systematic** (the default) gives exactly ``K`` *distinct* pixels. In units where the total mass is ``K``,
each pixel owns the half-open interval ``[c_{i−1}, c_i)`` of the cumulative sum; the points ``u, u+1, …,
u+K−1`` (one seeded offset) pick the pixels whose interval they fall in. An interval no longer than 1
holds at most one point, so pixels are first capped at mass ``1/K`` by water-filling: capped pixels keep
exactly ``1/K`` and the excess is shared by the others in proportion to their weight, until none exceeds.
Capping the largest weights first is what the iterative procedure converges to (capping a pixel that
exceeds only raises the share of the rest), so the cap set is the shortest prefix of the weights sorted in
decreasing order after which the largest remaining weight fits; one sort finds it. The offset is a
multiple of 2⁻²⁴, so every point ``u + j`` is exact in float64 and the sequential cumulative sum of lengths
≤ 1 keeps every interval ≤ 1: no duplicate, even with rounding.

**Multinomial** draws ``K`` pixels independently with replacement, as the Fast-2DGS paper does; a peaked
map then yields duplicates (Gaussians stacked on one pixel). It is kept for the ablation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["SAMPLING_METHODS", "sample_positions", "water_fill"]

SAMPLING_METHODS = ("systematic", "multinomial")
_OFFSET_BITS = 24


def water_fill(weights: Tensor, k: int) -> np.ndarray:
    """Masses (float64, summing to ``k``, each ≤ 1) ∝ ``weights`` except where capped at 1.

    Args:
        weights: ``[N]`` non-negative weights (any scale; all zero means uniform).
        k: the number of picks, 1 ≤ k ≤ N.
    """
    w = weights.detach().double().cpu().numpy()
    n = w.size
    if w.sum() <= 0:
        w = np.ones(n)
    order = np.argsort(-w, kind="stable")
    sorted_w = w[order]
    tail = np.cumsum(sorted_w[::-1])[::-1]  # tail[m] = Σ_{i ≥ m} sorted_w[i]
    m_range = np.arange(k)
    # Capping the m largest leaves mass k − m for the rest; the largest remaining one must fit in 1.
    fits = sorted_w[:k] * (k - m_range) <= tail[:k]
    capped = int(np.argmax(fits))  # fits[k−1] always holds
    mass = np.empty(n)
    rest = tail[capped]
    free = k - capped
    if rest > 0:
        mass[order[capped:]] = np.minimum(sorted_w[capped:] * (free / rest), 1.0)
    else:  # only zero weights remain: share the free mass evenly (n − capped ≥ free, so ≤ 1 each)
        mass[order[capped:]] = free / (n - capped)
    mass[order[:capped]] = 1.0
    return mass


def sample_positions(weights: Tensor, k: int, method: str = "systematic", seed: int = 0) -> Tensor:
    """Draw ``k`` pixel positions from ``weights`` (``[H, W]``, non-negative, e.g. a softmax of logits).

    Args:
        weights: unnormalized probabilities per pixel; an all-zero map is treated as uniform.
        k: number of positions, 1 ≤ k ≤ H·W.
        method: ``systematic`` (exactly ``k`` distinct pixels) or ``multinomial`` (with replacement).
        seed: the same seed and weights give the same positions.

    Returns:
        ``[k]`` int64 flat pixel indices ``row·W + col``, sorted.
    """
    flat = weights.reshape(-1)
    if not 1 <= k <= flat.numel():
        raise ValueError(f"cannot sample {k} positions from {flat.numel()} pixels (1 to {flat.numel()})")
    if not bool(torch.isfinite(flat).all()) or bool((flat < 0).any()):
        raise ValueError("sampling weights must be finite and non-negative")
    generator = torch.Generator().manual_seed(seed)
    if method == "multinomial":
        probs = flat.detach().double().cpu()
        probs = probs if probs.sum() > 0 else torch.ones_like(probs)
        return torch.multinomial(probs, k, replacement=True, generator=generator).sort().values
    if method != "systematic":
        raise ValueError(f"unknown sampling method {method!r} (choose from {', '.join(SAMPLING_METHODS)})")
    mass = water_fill(flat, k)
    cdf = np.cumsum(mass)  # sequential: each step adds ≤ 1, so every interval stays ≤ 1 after rounding
    unit = float(torch.rand((), generator=generator, dtype=torch.float64))
    # Keep the last point u + k − 1 below the (rounded) total, then snap u to the exact 2⁻²⁴ grid.
    span = min(1.0, cdf[-1] - (k - 1))
    offset = np.floor(unit * span * 2.0**_OFFSET_BITS) / 2.0**_OFFSET_BITS
    points = offset + np.arange(k, dtype=np.float64)
    picked = np.searchsorted(cdf, points, side="right")
    return torch.from_numpy(picked.astype(np.int64))
