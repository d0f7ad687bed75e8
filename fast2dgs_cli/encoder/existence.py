"""Rate-aware existence: drop the Gaussians whose bytes buy less picture than the same bytes would elsewhere.

A Gaussian costs about the file's mean bytes per Gaussian. Removing it raises the squared error by its
*removal cost*, computed exactly for the decoded picture with every pixel's selection held fixed: a pixel
blends ``v = Σ w_g·c_g`` with normalized weights, and without Gaussian ``g`` it becomes
``(v − w_g·c_g) / (1 − w_g)`` (the weights of the others rescale; 0 where ``g`` was all of it). Along the
rate–distortion curve (``precision.RD_SLOPE_DB``) a byte is worth ``κ·D/R`` of squared error, ``κ =
RD_SLOPE_DB·ln 10 / 10``, so a Gaussian whose removal cost is below ``κ·D/N`` (``D`` the picture's squared
error, ``N`` the count) pays less than its bytes and goes. The survivors keep their codes and order; the
caller refines their colours again for the new selection. Measurements: docs/encoder.md.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from torch import Tensor

from ..representation import QuantizedAttribute, QuantizedGaussians, dequantize_attribute
from .precision import RD_SLOPE_DB
from .refine import PixelSelection, stored_target

__all__ = ["MAX_DROPPED_SHARE", "prune_gaussians", "removal_costs"]

MAX_DROPPED_SHARE = 0.15
"""At most this share of the Gaussians is dropped (the cheapest): on a picture the fit cannot follow (noise,
a short fit) nearly every Gaussian costs more than it adds, and dropping them all would leave ``--bpp``'s
budget search, which expects the file to grow with the budget, nothing to aim with."""
_BYTE_WORTH = RD_SLOPE_DB * math.log(10) / 10
"""``κ``: the share of the squared error one mean Gaussian's bytes are worth (module docstring)."""


def removal_costs(q: QuantizedGaussians, image: Tensor, selection: PixelSelection) -> tuple[np.ndarray, float]:
    """``([N] float64 rise of the squared error if each Gaussian alone were removed, squared error now)``, in
    the stored colour space (orthonormal: the same as in RGB), over ``q``'s decoded picture of ``image``."""
    target = stored_target(q, image)
    colours = dequantize_attribute(q.color).astype(np.float64)
    s = selection
    return _removal_costs(s.ids, s.start, s.pixel_of, s.weight_of, target, colours)


def prune_gaussians(q: QuantizedGaussians, image: Tensor, selection: PixelSelection) -> QuantizedGaussians:
    """``q`` without the Gaussians whose removal cost is below ``κ·D/N`` (the module docstring), at most the
    ``MAX_DROPPED_SHARE`` cheapest of them; ``q`` itself when none goes."""
    if q.count < 2:
        return q
    costs, error = removal_costs(q, image, selection)
    keep = costs >= _BYTE_WORTH * error / q.count
    most = math.floor(MAX_DROPPED_SHARE * q.count)
    if (~keep).sum() > most:  # only the cheapest go: the file stays about proportional to the budget
        keep = np.ones(q.count, bool)
        keep[np.argsort(costs, kind="stable")[:most]] = False
    if keep.all():
        return q
    attributes = {
        name: QuantizedAttribute(a.bits, a.lo, a.hi, np.ascontiguousarray(a.codes[keep]))
        for name, a in q.attributes().items()
    }
    return QuantizedGaussians(q.height, q.width, int(keep.sum()), **attributes)


@njit(cache=True)
def _removal_costs(ids, start, pixel_of, weight_of, target, colours):  # pragma: no cover - compiled
    """Removal cost of every Gaussian and the squared error of the picture (``removal_costs``)."""
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
    costs = np.zeros(n)
    for g in range(n):
        for e in range(start[g], start[g + 1]):
            p, w = pixel_of[e], weight_of[e]
            rest = 1.0 - w
            for c in range(3):
                without = (picture[p, c] - w * colours[g, c]) / rest if rest > 1e-12 else 0.0
                costs[g] += (target[p, c] - without) ** 2 - (target[p, c] - picture[p, c]) ** 2
    return costs, error
