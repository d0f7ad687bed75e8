"""Rate-aware existence: drop the Gaussians whose bytes buy less picture than the same bytes would elsewhere.

A Gaussian costs about the file's mean bytes per Gaussian. Removing it raises the squared error by its
*removal cost*, computed exactly for the decoded picture with every pixel's selection held fixed: a pixel
blends ``v = Σ w_g·c_g`` with normalized weights, and without Gaussian ``g`` it becomes
``(v − w_g·c_g) / (1 − w_g)`` (the weights of the others rescale; 0 where ``g`` was all of it). Along the
rate–distortion curve (``precision.RD_SLOPE_DB``) a byte is worth ``κ·D/R`` of squared error, ``κ =
RD_SLOPE_DB·ln 10 / 10``, so a Gaussian whose removal cost is below ``κ·D/N`` (``D`` the picture's squared
error, ``N`` the count; ``REFIT_ALLOWANCE`` times that, as refinement follows) pays less than its bytes.

A cost holds only while the Gaussians sharing its pixels stay (two overlapping copies each cost nothing alone,
and everything together), so they go one at a time, cheapest first, each one's cost brought up to date with
what went before it (lazily: a Gaussian is re-costed when it comes to the top). The survivors keep their codes
and order; the caller refines their colours again for the new selection. Measurements: docs/encoder.md.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from numba import prange
from torch import Tensor

from ..jit import kernel
from ..representation import QuantizedGaussians, dequantize_attribute
from .precision import RD_SLOPE_DB
from .refine import PixelSelection, Window, free_gaussians, stored_target, window_rows

__all__ = ["MAX_DROPPED_SHARE", "REFIT_ALLOWANCE", "kept_gaussians", "prune_gaussians", "removal_costs"]

MAX_DROPPED_SHARE = 0.2
"""At most this share of the Gaussians is dropped (the cheapest): on a picture the fit cannot follow (noise,
a short fit) nearly every Gaussian costs more than it adds, and dropping them all would leave ``--bpp``'s
budget search, which expects the file to grow with the budget, nothing to aim with."""
_BYTE_WORTH = RD_SLOPE_DB * math.log(10) / 10
"""``κ``: the share of the squared error one mean Gaussian's bytes are worth (module docstring)."""
REFIT_ALLOWANCE = 1.7
"""A Gaussian goes while its removal cost is below ``REFIT_ALLOWANCE·κ·D/N``: the cost is measured before the
survivors' colours and geometry are refined again, which wins part of it back (measured in docs/encoder.md)."""


def removal_costs(q: QuantizedGaussians, image: Tensor, selection: PixelSelection) -> tuple[np.ndarray, float]:
    """``([N] float64 rise of the squared error if each Gaussian alone were removed, squared error now)``, in
    the stored colour space (orthonormal: the same as in RGB), over ``q``'s decoded picture of ``image``."""
    costs, error, _ = _removal_costs(*_kernel_inputs(q, image, selection))
    return costs, error


def prune_gaussians(q: QuantizedGaussians, image: Tensor, selection: PixelSelection) -> QuantizedGaussians:
    """``q`` without the Gaussians that do not pay (``kept_gaussians``); ``q`` itself when none goes."""
    keep = kept_gaussians(q, image, selection)
    return q if keep.all() else q.take(keep)


def kept_gaussians(
    q: QuantizedGaussians, image: Tensor, selection: PixelSelection, window: Window | None = None
) -> np.ndarray:
    """``[N]`` bool: the Gaussians that stay when those that do not pay are dropped one at a time while the
    cheapest's up-to-date removal cost is below ``REFIT_ALLOWANCE·κ·D/N`` (the module docstring), at most
    ``MAX_DROPPED_SHARE`` of them (so that the file stays about proportional to the budget).

    With a ``window``, ``D`` is the error over its rows, ``N`` counts every Gaussian of ``q`` and only its free
    Gaussians may go (at most ``MAX_DROPPED_SHARE`` of them).
    """
    free = free_gaussians(window, q.count)
    if q.count < 2:
        return np.ones(q.count, np.bool_)
    inputs = _kernel_inputs(q, image, selection, window)
    costs, error, picture = _removal_costs(*inputs)
    most = math.floor(MAX_DROPPED_SHARE * int(free.sum()))
    return ~_drop_greedily(*inputs[1:], picture, costs, error, most, free)


def _kernel_inputs(
    q: QuantizedGaussians, image: Tensor, selection: PixelSelection, window: Window | None = None
) -> tuple[np.ndarray, ...]:
    """``(ids, start, pixel_of, weight_of, target, colours)``: the selection, ``image`` (the window's rows) as
    ``[P, 3]`` and the decoded colours, both float64 in the stored colour space."""
    s = selection
    colours = dequantize_attribute(q.color).astype(np.float64)
    return s.ids, s.start, s.pixel_of, s.weight_of, stored_target(q, image, window_rows(window)), colours


@kernel(parallel=True)
def _removal_costs(ids, start, pixel_of, weight_of, target, colours):  # pragma: no cover - compiled
    """Removal cost of every Gaussian (each on its own, so in parallel), the squared error of the picture, and the
    picture ``[P, 3]``."""
    pixels = ids.shape[0]
    picture = np.zeros((pixels, 3))
    cursor = start[:-1].copy()  # pixels in ascending order meet each Gaussian's entries in their order
    for p in range(pixels):
        for k in range(ids.shape[1]):
            g = ids[p, k]
            if g >= 0:
                w = weight_of[cursor[g]]
                cursor[g] += 1
                for c in range(3):
                    picture[p, c] += w * colours[g, c]
    error = 0.0
    for p in range(pixels):
        for c in range(3):
            error += (target[p, c] - picture[p, c]) ** 2
    n = start.shape[0] - 1
    mass = np.ones(pixels)
    costs = np.empty(n)
    for g in prange(n):
        costs[g] = _cost(g, start, pixel_of, weight_of, target, colours, picture, mass)
    return costs, error, picture


@kernel()
def _cost(g, start, pixel_of, weight_of, target, colours, blend, mass):  # pragma: no cover - compiled
    """Rise of the squared error when Gaussian ``g`` goes, where pixel ``p`` shows ``blend[p] / mass[p]`` (the
    kept Gaussians' weighted colours and their share of the weight; 0 where nothing is kept)."""
    rise = 0.0
    for e in range(start[g], start[g + 1]):
        p, w = pixel_of[e], weight_of[e]
        for c in range(3):
            now = blend[p, c] / mass[p] if mass[p] > 1e-12 else 0.0
            rest = mass[p] - w
            without = (blend[p, c] - w * colours[g, c]) / rest if rest > 1e-12 else 0.0
            rise += (target[p, c] - without) ** 2 - (target[p, c] - now) ** 2
    return rise


@kernel()
def _drop_greedily(start, pixel_of, weight_of, target, colours, picture, costs, error, most, free):  # pragma: no cover
    """``[N]`` bool: the Gaussians ``kept_gaussians`` drops (of the ``free`` ones), cheapest up-to-date cost
    first."""
    n = start.shape[0] - 1
    blend, mass = picture.copy(), np.ones(picture.shape[0])
    heap = [(costs[g], g) for g in range(n) if free[g]]
    heapq.heapify(heap)
    drop = np.zeros(n, np.bool_)
    count = n
    while len(heap) > 0 and n - count < most:
        stale, g = heapq.heappop(heap)
        cost = _cost(g, start, pixel_of, weight_of, target, colours, blend, mass)
        if cost != stale and len(heap) > 0 and cost > heap[0][0]:
            heapq.heappush(heap, (cost, g))  # others may now be cheaper: look again
            continue
        if cost >= REFIT_ALLOWANCE * _BYTE_WORTH * error / count:
            break
        drop[g] = True
        count -= 1
        error += cost
        for e in range(start[g], start[g + 1]):
            p, w = pixel_of[e], weight_of[e]
            mass[p] -= w
            for c in range(3):
                blend[p, c] -= w * colours[g, c]
    return drop
