"""Drawing ``K`` Gaussian positions from a per-pixel distribution.

```
weights [H,W] ≥ 0 ──normalize──► p ──water-fill: no pixel above 1/K──► q ──Hilbert order, systematic──► K pixels
                                  └──────────────── multinomial, with replacement ────────────────────► K pixels
```

**Systematic** (the default) gives exactly ``K`` *distinct* pixels. The pixels are laid out along a Hilbert
curve (the image padded to the next power-of-two square; ``hilbert_order``) and, in units where the total
mass is ``K``, each pixel owns the half-open interval ``[c_{i−1}, c_i)`` of the cumulative sum in that order;
the points ``u, u+1, …, u+K−1`` (one seeded offset) pick the pixels whose interval they fall in. An interval
no longer than 1 holds at most one point, so pixels are first capped at mass ``1/K`` by water-filling:
capped pixels keep exactly ``1/K`` and the excess is shared by the others in proportion to their weight,
until none exceeds. Capping the largest weights first is what the iterative procedure converges to (capping
a pixel that exceeds only raises the share of the rest), so the cap set is the shortest prefix of the
weights sorted in decreasing order after which the largest remaining weight fits; one sort finds it. The
offset is a multiple of 2⁻²⁴, so every point ``u + j`` is exact in float64 and the sequential cumulative sum
of lengths ≤ 1 keeps every interval ≤ 1: no duplicate, even with rounding.

Why a Hilbert curve: a stretch of the curve holding mass 1 is a compact patch of the image (the curve never
leaves a square before filling it), so consecutive points land one patch apart in both directions and the
positions cover the image evenly, like blue noise where the density is flat. In raster order the same
sampler spaces points evenly along each row only; rows then line up in slanted streaks with gaps between
them. The networks are trained on samples drawn through this function too; docs/prior.md has the
measurements.

**Multinomial** draws ``K`` pixels independently with replacement, as the Fast-2DGS paper does; a peaked
map then yields duplicates (Gaussians stacked on one pixel). It is kept for the ablation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from numba import prange
from torch import Tensor

from ..jit import kernel

__all__ = ["SAMPLING_METHODS", "hilbert_order", "sample_positions", "water_fill"]

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
    order = _descending_order((w + 0.0).view(np.uint64))  # + 0.0 turns −0.0 into +0.0
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


@kernel()
def _descending_order(bits):  # pragma: no cover - compiled
    """``np.argsort(-w, kind="stable")`` of non-negative float64 weights ``w`` given as their bits: a stable
    radix sort, 16 bits a pass (the bits of non-negative floats order as the values do)."""
    n = bits.shape[0]
    keys, order = ~bits, np.arange(n)
    spare_keys, spare_order = np.empty_like(keys), np.empty_like(order)
    for shift in range(0, 64, 16):
        starts = np.zeros(65537, np.int64)
        for i in range(n):
            starts[((keys[i] >> shift) & 0xFFFF) + 1] += 1
        if starts.max() == n:  # every key has the same digit here: the order stays
            continue
        for digit in range(65536):
            starts[digit + 1] += starts[digit]
        for i in range(n):
            digit = (keys[i] >> shift) & 0xFFFF
            spare_keys[starts[digit]], spare_order[starts[digit]] = keys[i], order[i]
            starts[digit] += 1
        keys, spare_keys = spare_keys, keys
        order, spare_order = spare_order, order
    return order


CACHED_PIXELS = 1 << 22
"""``hilbert_order`` keeps the orders of images up to this many pixels (training draws from one crop size)."""


def hilbert_order(height: int, width: int) -> np.ndarray:
    """Flat pixel indices ``row·W + col`` of an ``H×W`` image in the order a Hilbert curve visits them.

    The curve fills the ``2^m × 2^m`` square that contains the image (``2^m ≥ max(H, W)``), starting at
    pixel (0, 0); pixels outside the image are dropped. Returns a read-only ``[H·W]`` int64 array (cached up to
    ``CACHED_PIXELS``: a large picture's order would outlive its one use).
    """
    if height * width <= CACHED_PIXELS:
        return _cached_hilbert_order(height, width)
    return _hilbert_order(height, width)


@lru_cache(maxsize=8)
def _cached_hilbert_order(height: int, width: int) -> np.ndarray:
    return _hilbert_order(height, width)


def _hilbert_order(height: int, width: int) -> np.ndarray:
    side = 1 << max(1, (max(height, width) - 1).bit_length())
    slots = np.full(side * side, -1, dtype=np.int64)  # distances are distinct: scatter, then read in order
    slots[_hilbert_distances(height, width, side)] = np.arange(height * width, dtype=np.int64)
    order = slots[slots >= 0]
    order.setflags(write=False)
    return order


@kernel(parallel=True)
def _hilbert_distances(height, width, side):  # pragma: no cover - compiled
    """Each pixel's distance along the Hilbert curve of the ``side × side`` square, by the classic bitwise
    conversion of ``(x, y)``: per level, the quadrant's rank, then the flip and swap into its frame."""
    distances = np.empty(height * width, np.int64)
    for pixel in prange(height * width):
        y, x = pixel // width, pixel % width
        distance, quadrant = 0, side // 2
        while quadrant > 0:
            right, lower = (x & quadrant) > 0, (y & quadrant) > 0
            distance += quadrant * quadrant * ((3 if right else 0) ^ (1 if lower else 0))
            if right and not lower:  # x → side − 1 − x is x XOR (side − 1)
                x, y = x ^ (side - 1), y ^ (side - 1)
            if not lower:
                x, y = y, x
            quadrant //= 2
        distances[pixel] = distance
    return distances


def sample_positions(weights: Tensor, k: int, method: str = "systematic", seed: int = 0) -> Tensor:
    """Draw ``k`` pixel positions from ``weights`` (``[H, W]``, non-negative, e.g. a softmax of logits).

    Args:
        weights: ``[H, W]`` unnormalized probabilities per pixel; an all-zero map is treated as uniform.
        k: number of positions, 1 ≤ k ≤ H·W.
        method: ``systematic`` (exactly ``k`` distinct pixels) or ``multinomial`` (with replacement).
        seed: the same seed and weights give the same positions.

    Returns:
        ``[k]`` int64 flat pixel indices ``row·W + col``, sorted.
    """
    if weights.dim() != 2:
        raise ValueError(f"sampling weights must be an [H, W] map, got shape {tuple(weights.shape)}")
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
    order = hilbert_order(*weights.shape)
    mass = water_fill(flat, k)[order]
    cdf = np.cumsum(mass)  # sequential: each step adds ≤ 1, so every interval stays ≤ 1 after rounding
    unit = float(torch.rand((), generator=generator, dtype=torch.float64))
    # Keep the last point u + k − 1 below the (rounded) total, then snap u to the exact 2⁻²⁴ grid.
    span = min(1.0, cdf[-1] - (k - 1))
    offset = np.floor(unit * span * 2.0**_OFFSET_BITS) / 2.0**_OFFSET_BITS
    points = offset + np.arange(k, dtype=np.float64)
    picked = order[np.searchsorted(cdf, points, side="right")]
    return torch.from_numpy(np.sort(picked))
